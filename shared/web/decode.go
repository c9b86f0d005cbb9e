package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// DefaultMaxBody caps JSON request bodies unless a route sets its own limit.
const DefaultMaxBody = 1 << 20

// Validator is implemented by request types that check their own fields and
// say which one is wrong.
type Validator interface{ Validate() error }

// Decode reads one JSON value from the request body into dst. It requires no
// content type and ignores unknown fields (real clients send both ways and
// extras); an empty, malformed, oversized or mistyped body becomes a 400/413
// with a message naming the problem, a body not received in time a 408.
// Every string in it is held to the caps of checkFields (400 naming the
// field). If dst is a Validator it is validated.
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	return DecodeLimit(w, r, dst, DefaultMaxBody)
}

// DecodeLimit is Decode with an explicit body size cap in bytes.
func DecodeLimit(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, limit)
	}
	// Anything but whitespace after the value is a client bug worth naming.
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(limit)
		}
		return BadRequest("Request body must contain a single JSON value")
	}
	if err := checkFields(dst); err != nil {
		return err
	}
	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// DecodeOptional is Decode for routes whose body is optional: an empty or
// unparseable body leaves dst as it is (the original treats it as {}).
func DecodeOptional(w http.ResponseWriter, r *http.Request, dst any) error {
	err := Decode(w, r, dst)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest {
		return nil
	}
	return err
}

func tooLarge(limit int64) *Error {
	return Errorf(http.StatusRequestEntityTooLarge, "Request body too large (limit %d bytes)", limit)
}

func decodeError(err error, limit int64) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.Is(err, io.EOF):
		return BadRequest("Request body is empty: expected a JSON object")
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case isTimeout(err):
		return ErrBodyTimeout.Wrap(err)
	case errors.As(err, &syn):
		return Errorf(http.StatusBadRequest, "Malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("Malformed JSON: the body ends before the value is complete")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return Errorf(http.StatusBadRequest, "Request body must be a JSON object, not %s", typ.Value)
		}
		return Errorf(http.StatusBadRequest, "Field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	default:
		return BadRequest("Malformed JSON body").Wrap(err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func jsonKind(goKind string) string {
	switch {
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "a boolean"
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "slice", goKind == "array":
		return "an array"
	case goKind == "map", goKind == "struct":
		return "an object"
	default:
		return fmt.Sprintf("of type %s", goKind)
	}
}

// Required returns a 400 naming field when value is empty.
func Required(field, value string) error {
	if strings.TrimSpace(value) == "" {
		return Errorf(http.StatusBadRequest, "Missing required field: %s", field)
	}
	return nil
}

package web

import (
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/owlette/server/shared/store"
)

// checkFields applies the size and id rules to a decoded request body, so
// every route gets them by decoding (DECISIONS §3): every string a request
// carries is at most MaxStringBytes unless its field raises the cap with a
// `max:"N"` struct tag (applying to every string inside that field), a
// field named like an id (IDNames) is at most a document id's 1,500 bytes,
// and a map key must fit a Firestore field name. (JSON strings are always
// valid UTF-8 once decoded.) json.RawMessage fields are left
// to the handler that decodes them (their documents' 1 MiB limit is
// answered 400 when they are written).
func checkFields(v any) error {
	return walk(reflect.ValueOf(v), "", MaxStringBytes, false)
}

func walk(v reflect.Value, name string, limit int, isID bool) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walk(v.Elem(), name, limit, isID)
	case reflect.String:
		return checkString(name, v.String(), limit, isID)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fname, skip := jsonName(f)
			if skip {
				continue
			}
			flimit := limit
			if m := f.Tag.Get("max"); m != "" {
				if n, err := strconv.Atoi(m); err == nil {
					flimit = n
				}
			}
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				fname = name // embedded: its fields are the parent's
			}
			if err := walk(v.Field(i), fname, flimit, IDNames[fname]); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // []byte, json.RawMessage
		}
		for i := 0; i < v.Len(); i++ {
			if err := walk(v.Index(i), name, limit, isID); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			k := it.Key()
			key := ""
			if k.Kind() == reflect.String {
				key = k.String()
				if len(key) > store.MaxIDBytes {
					return Errorf(http.StatusBadRequest, "A field name in %s is too long (limit %d bytes)", fieldLabel(name), store.MaxIDBytes)
				}
			}
			// A dynamic object's own id-named keys follow the id rules too.
			if err := walk(it.Value(), key, limit, IDNames[key] && name == ""); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkString(name, s string, limit int, isID bool) error {
	if isID && len(s) > store.MaxIDBytes {
		return Errorf(http.StatusBadRequest, "Field %s is too long (limit %d bytes)", fieldLabel(name), store.MaxIDBytes)
	}
	if len(s) > limit {
		return Errorf(http.StatusBadRequest, "Field %s is too long (limit %d bytes)", fieldLabel(name), limit)
	}
	return nil
}

func jsonName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", true
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, false
}

func fieldLabel(name string) string {
	if name == "" {
		return "in the body"
	}
	return quoteName(name)
}

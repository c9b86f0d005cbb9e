package screenshots

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/owlette/server/shared/logging"
)

// Object paths (datamodel.md §1).
func machinePrefix(siteID, machineID string) string {
	return "screenshots/" + siteID + "/" + machineID + "/"
}
func latestObject(siteID, machineID string) string {
	return machinePrefix(siteID, machineID) + "latest.jpg"
}
func historyObject(siteID, machineID string, ms int64) string {
	return machinePrefix(siteID, machineID) + "history/" + strconv.FormatInt(ms, 10) + ".jpg"
}

// publicURL is the object's public URL; the path is not escaped, as in the
// original (site ids and Windows host names need no escaping).
func publicURL(bucket, name string) string { return PublicBase + bucket + "/" + name }

// objectFromURL derives the object name from a stored URL the way the
// original did: the part after "<bucket>/", query string stripped.
func objectFromURL(bucket, u string) (string, bool) {
	i := strings.Index(u, bucket+"/")
	if i < 0 {
		return "", false
	}
	name := u[i+len(bucket)+1:]
	if j := strings.IndexAny(name, "?#"); j >= 0 {
		name = name[:j]
	}
	return name, name != ""
}

// put uploads one JPEG with its cache control and metadata and makes it
// public (allUsers reader, the predefined ACL "publicRead", in the upload
// request itself). A bucket with uniform bucket-level access refuses object
// ACLs with a 400; the original's makePublic() then failed the request. We
// log it once, upload without the ACL from then on and carry on: such a
// bucket is made public (or not) by IAM, which is the operator's choice.
func (h *handlers) put(ctx context.Context, c *storage.Client, bucket, name, cache string, data []byte, meta map[string]string) error {
	public := !h.noACL.Load()
	err := write(ctx, c, bucket, name, cache, data, meta, public)
	if public && uniformAccess(err) {
		if !h.noACL.Swap(true) {
			logging.From(ctx).Warn("bucket has uniform bucket-level access: screenshot objects cannot be made public per object; "+
				"grant allUsers roles/storage.objectViewer on the bucket for their URLs to work", "bucket", bucket, "error", err.Error())
		}
		err = write(ctx, c, bucket, name, cache, data, meta, false)
	}
	return err
}

func write(ctx context.Context, c *storage.Client, bucket, name, cache string, data []byte, meta map[string]string, public bool) error {
	// Re-sending the same bytes to the same name is harmless: retry always.
	w := c.Bucket(bucket).Object(name).Retryer(storage.WithPolicy(storage.RetryAlways)).NewWriter(ctx)
	w.ContentType = "image/jpeg"
	w.CacheControl = cache
	w.Metadata = meta
	if public {
		w.PredefinedACL = "publicRead"
	}
	// One request, with a buffer just large enough to retry it (the default
	// would allocate 16 MiB per writer).
	const quantum = 256 << 10
	w.ChunkSize = (len(data)/quantum + 1) * quantum
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// uniformAccess reports the error GCS gives for an object ACL on a bucket
// with uniform bucket-level access.
func uniformAccess(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(ge.Message), "uniform bucket-level access")
}

// deleteObjects deletes objects concurrently; a missing object is not an
// error. It returns the first failure.
func deleteObjects(ctx context.Context, c *storage.Client, bucket string, names []string) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, 8)
	)
	for _, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := c.Bucket(bucket).Object(name).Retryer(storage.WithPolicy(storage.RetryAlways)).Delete(ctx)
			if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

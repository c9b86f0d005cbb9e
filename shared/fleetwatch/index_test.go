package fleetwatch_test

import (
	"encoding/json"
	"os"
	"testing"
)

// TestIndexDeclared: the stale-machines query needs its collection-group
// composite index in production (the emulator does not check), and the
// metrics-history samples (up to 1,440 maps a day, never queried) are kept
// out of the indexes so each append does not re-index the array.
func TestIndexDeclared(t *testing.T) {
	raw, err := os.ReadFile("../../firestore.indexes.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Indexes []struct {
			CollectionGroup, QueryScope string
			Fields                      []struct{ FieldPath, Order string }
		}
		FieldOverrides []struct {
			CollectionGroup, FieldPath string
			Indexes                    []any
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ix := range file.Indexes {
		if ix.CollectionGroup == "machines" && ix.QueryScope == "COLLECTION_GROUP" && len(ix.Fields) == 2 &&
			ix.Fields[0].FieldPath == "online" && ix.Fields[1].FieldPath == "lastHeartbeat" && ix.Fields[1].Order == "ASCENDING" {
			found = true
		}
	}
	if !found {
		t.Error("firestore.indexes.json lacks the collection-group index machines(online, lastHeartbeat)")
	}
	for _, f := range file.FieldOverrides {
		if f.CollectionGroup == "metrics_history" && f.FieldPath == "samples" && len(f.Indexes) == 0 {
			return
		}
	}
	t.Error("firestore.indexes.json does not exempt metrics_history.samples from indexing")
}

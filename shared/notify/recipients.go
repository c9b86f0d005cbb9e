package notify

import (
	"context"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/store"
)

// AssignedUsers returns the users whose sites[] contains siteID (one query).
// It is split from Recipients so callers can run it in parallel with the
// read that tells them the site's owner.
func AssignedUsers(ctx context.Context, fs *firestore.Client, siteID string) ([]*firestore.DocumentSnapshot, error) {
	return fs.Collection("users").Where("sites", "array-contains", siteID).Documents(ctx).GetAll()
}

// Recipients applies api.md §1.14 to the assigned users of a site: add the
// site owner (one read, only when not among them), drop users without an
// e-mail and, when pref is set, users whose preferences.<pref> is false;
// each keeps preferences.alertCcEmails as CCs. Nobody left ⇒ the admin
// address as AdminUID, if configured; else no recipient at all.
func Recipients(ctx context.Context, fs *firestore.Client, assigned []*firestore.DocumentSnapshot, owner, pref, adminEmail string) ([]Recipient, error) {
	users := assigned
	if owner != "" && store.ValidID(owner) {
		found := false
		for _, s := range assigned {
			if s.Ref.ID == owner {
				found = true
				break
			}
		}
		if !found {
			snap, err := fs.Collection("users").Doc(owner).Get(ctx)
			switch {
			case err == nil:
				users = append(users[:len(users):len(users)], snap)
			case !store.NotFound(err):
				return nil, err
			}
		}
	}
	out := []Recipient{}
	for _, s := range users {
		if r, ok := recipient(s, pref); ok {
			out = append(out, r)
		}
	}
	if len(out) == 0 && adminEmail != "" {
		out = append(out, Admin(adminEmail))
	}
	return out, nil
}

// Admin is the admin address as a recipient (no unsubscribe link, no CC).
func Admin(email string) Recipient { return Recipient{UID: AdminUID, Email: email, CC: []string{}} }

func recipient(s *firestore.DocumentSnapshot, pref string) (Recipient, bool) {
	d := s.Data()
	email, _ := d["email"].(string)
	if email == "" {
		return Recipient{}, false
	}
	prefs, _ := d["preferences"].(map[string]any)
	if pref != "" {
		if on, ok := prefs[pref].(bool); ok && !on {
			return Recipient{}, false
		}
	}
	cc := []string{}
	if list, ok := prefs["alertCcEmails"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok && s != "" {
				cc = append(cc, s)
			}
		}
	}
	return Recipient{UID: s.Ref.ID, Email: email, CC: cc}, true
}

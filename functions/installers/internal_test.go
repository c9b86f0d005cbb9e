package installers

import (
	"testing"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/logging"
)

// TestProductionSigner: without a key file and without the emulator the
// signer is IAM signBlob (no key, SignBytes nil) naming
// STORAGE_SIGNING_ACCOUNT, or nobody (the storage client then asks the
// metadata server). Nothing is signed here: that needs Google credentials.
func TestProductionSigner(t *testing.T) {
	d := &app.Deps{Config: &config.Config{Base: config.Base{ProjectID: "p", Emulators: map[string]string{}}, StorageConfig: &config.StorageConfig{}}, Log: logging.Default()}
	for _, account := range []string{"", "runtime@p.iam.gserviceaccount.com"} {
		d.Config.StorageSigningAccount = account
		src := newSignerSource(nil, d)
		s, err := src.get()
		if err != nil || s.SignBytes != nil || s.GoogleAccessID != account || src.emulated {
			t.Errorf("account %q: signer %+v, err %v, emulated %v", account, s, err, src.emulated)
		}
	}
	// The emulator, named in the configuration, means a local key.
	d.Config.Emulators["STORAGE_EMULATOR_HOST"] = "127.0.0.1:1"
	d.Config.StorageSigningAccount = ""
	src := newSignerSource(nil, d)
	if s, err := src.get(); err != nil || s.SignBytes == nil || s.GoogleAccessID != "owlette-local-signer@p.iam.gserviceaccount.com" || !src.emulated {
		t.Errorf("emulated: %+v %v", s, err)
	}
}

func TestDownloadExpiry(t *testing.T) {
	if DownloadURLExpiry.Unix() != 1893456000 {
		t.Errorf("DownloadURLExpiry %v", DownloadURLExpiry)
	}
	if ObjectPath("2.5.0") != "agent-installers/versions/2.5.0/Owlette-Installer-v2.5.0.exe" {
		t.Error(ObjectPath("2.5.0"))
	}
}

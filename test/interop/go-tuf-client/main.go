// A small go-tuf v2 client for the interop tests: refreshes a channel (from the root cached in
// -metadata-dir, or the bootstrap -root the first time), optionally downloads one target, and prints
// one JSON line with what it saw or the error it refused with. `verify` checks one targets file
// against a root, to show go-tuf accepts the bytes we sign.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

type targetOut struct {
	Path   string `json:"path"`
	Length int    `json:"length"`
	Sha256 string `json:"sha256"`
}

type errOut struct {
	Kind    string `json:"kind"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

type result struct {
	Client           string     `json:"client"`
	Ok               bool       `json:"ok"`
	RootVersion      int64      `json:"root_version,omitempty"`
	TimestampVersion int64      `json:"timestamp_version,omitempty"`
	SnapshotVersion  int64      `json:"snapshot_version,omitempty"`
	TargetsVersion   int64      `json:"targets_version,omitempty"`
	Target           *targetOut `json:"target,omitempty"`
	Error            *errOut    `json:"error,omitempty"`
}

// kind names the refusal in words the test shares with the python client
func kind(err error) string {
	switch {
	case errors.Is(err, &metadata.ErrExpiredMetadata{}):
		return "expired"
	case errors.Is(err, &metadata.ErrLengthOrHashMismatch{}):
		return "hash_mismatch"
	case errors.Is(err, &metadata.ErrUnsignedMetadata{}):
		return "bad_signature"
	case errors.Is(err, &metadata.ErrBadVersionNumber{}), errors.Is(err, &metadata.ErrEqualVersionNumber{}):
		return "rollback"
	}
	return "other"
}

func emit(r result, err error) {
	if err != nil {
		r.Ok = false
		r.Error = &errOut{Kind: kind(err), Type: reflect.TypeOf(err).String(), Message: err.Error()}
	} else {
		r.Ok = true
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

func refresh(args []string) {
	fs := flag.NewFlagSet("refresh", flag.ExitOnError)
	url := fs.String("url", "", "channel base URL (metadata/ and targets/ below it)")
	dir := fs.String("metadata-dir", "", "local metadata cache")
	root := fs.String("root", "", "bootstrap root.json, used when the cache holds none")
	target := fs.String("target", "", "target path to download")
	outDir := fs.String("out", "", "folder for the downloaded target")
	_ = fs.Parse(args)
	r := result{Client: "go-tuf"}

	rootBytes, err := os.ReadFile(filepath.Join(*dir, "root.json"))
	if err != nil {
		if rootBytes, err = os.ReadFile(*root); err != nil {
			emit(r, err)
			return
		}
	}
	cfg, err := config.New(*url+"/metadata", rootBytes)
	if err != nil {
		emit(r, err)
		return
	}
	cfg.RemoteTargetsURL = *url + "/targets"
	cfg.LocalMetadataDir = *dir
	cfg.LocalTargetsDir = *outDir
	if *outDir == "" {
		// go-tuf creates the targets folder up front even when nothing is downloaded
		cfg.LocalTargetsDir = filepath.Join(*dir, "targets")
	}
	up, err := updater.New(cfg)
	if err != nil {
		emit(r, err)
		return
	}
	err = up.Refresh()
	t := up.GetTrustedMetadataSet()
	if t.Root != nil {
		r.RootVersion = t.Root.Signed.Version
	}
	if t.Timestamp != nil {
		r.TimestampVersion = t.Timestamp.Signed.Version
	}
	if t.Snapshot != nil {
		r.SnapshotVersion = t.Snapshot.Signed.Version
	}
	if tg := t.Targets[metadata.TARGETS]; tg != nil {
		r.TargetsVersion = tg.Signed.Version
	}
	if err != nil || *target == "" {
		emit(r, err)
		return
	}
	info, err := up.GetTargetInfo(*target)
	if err != nil {
		emit(r, err)
		return
	}
	if err = os.MkdirAll(*outDir, 0o755); err != nil {
		emit(r, err)
		return
	}
	_, data, err := up.DownloadTarget(info, filepath.Join(*outDir, filepath.Base(*target)), "")
	if err == nil {
		sum := sha256.Sum256(data)
		r.Target = &targetOut{Path: *target, Length: len(data), Sha256: hex.EncodeToString(sum[:])}
	}
	emit(r, err)
}

func verify(args []string) {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	root := fs.String("root", "", "root.json")
	targets := fs.String("targets", "", "targets.json to check against the root's targets keys")
	_ = fs.Parse(args)
	r := result{Client: "go-tuf"}
	rootMd, err := metadata.Root().FromFile(*root)
	if err != nil {
		emit(r, err)
		return
	}
	tgMd, err := metadata.Targets().FromFile(*targets)
	if err != nil {
		emit(r, err)
		return
	}
	r.RootVersion = rootMd.Signed.Version
	r.TargetsVersion = tgMd.Signed.Version
	emit(r, rootMd.VerifyDelegate(metadata.TARGETS, tgMd))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-tuf-client refresh|verify [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "refresh":
		refresh(os.Args[2:])
	case "verify":
		verify(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: go-tuf-client refresh|verify [flags]")
		os.Exit(2)
	}
}

package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/stoa-video/stoa/recorder"
)

const recordingsUsage = `usage:
  stoa recordings verify [--key PUBKEY] [--data-dir DIR] FILE...
      re-hash each recording's clusters and check the signed manifest beside it (FILE.json);
      prints "verified" or "ALTERED: ..." per file and exits with status 1 if any is not verified.
      --key PUBKEY   the trusted public key: base64, or a file holding it (GET /api/recordings/pubkey)
      --data-dir DIR the trusted key is the one of DIR/recording.key (the server's data dir)
      Without either, a manifest is checked against its own key, which proves nothing about who signed it.
  stoa recordings repair [--data-dir DIR] FILE...
      rewrite a recording cut by an unclean stop (kill -9, power loss) into FILE's NAME.repaired.EXT beside it:
      its complete clusters, the real duration, cues (so it seeks) and a segment size; FILE itself is left
      untouched as evidence, and an existing NAME.repaired.EXT is never overwritten.
      --data-dir DIR sign a new manifest (NAME.repaired.EXT.json) with DIR/recording.key that records the
                     repair and the hash chain of the original's complete clusters
`

// recordingsCmd runs `stoa recordings ...`: the operator's tools for
// recordings on disk. One case per subcommand.
func recordingsCmd(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, recordingsUsage)
		return nil
	}
	switch args[0] {
	case "verify":
		return recordingsVerify(args[1:], out)
	case "repair":
		return recordingsRepair(args[1:], out)
	default:
		return fmt.Errorf("unknown recordings command %q\n%s", args[0], recordingsUsage)
	}
}

// recordingsVerify checks each file and prints one line per file; the error
// it returns (exit status 1) counts the files not verified.
func recordingsVerify(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("stoa recordings verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keyArg := fs.String("key", "", "trusted public key, base64 or a file holding it")
	dataDir := fs.String("data-dir", "", "use the public key of DIR/recording.key")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, recordingsUsage)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("stoa recordings verify needs at least one file\n%s", recordingsUsage)
	}
	trusted, err := trustedKey(*keyArg, *dataDir)
	if err != nil {
		return err
	}
	failed := 0
	for _, path := range fs.Args() {
		res, err := recorder.Verify(path, trusted)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(out, "%s: ERROR: %v\n", path, err)
		case !res.OK:
			failed++
			fmt.Fprintf(out, "%s: ALTERED: %s\n", path, res.Reason)
		case res.Reason != "":
			fmt.Fprintf(out, "%s: verified (%s)\n", path, res.Reason)
		default:
			fmt.Fprintf(out, "%s: verified\n", path)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d recordings not verified", failed, fs.NArg())
	}
	return nil
}

// trustedKey resolves --key or --data-dir to a public key; nil when neither
// is given. It only reads the data dir's key, never creates one.
func trustedKey(keyArg, dataDir string) (ed25519.PublicKey, error) {
	switch {
	case keyArg != "" && dataDir != "":
		return nil, errors.New("give --key or --data-dir, not both")
	case dataDir != "":
		priv, err := recorder.LoadKey(dataDir)
		if err != nil {
			return nil, err
		}
		return priv.Public().(ed25519.PublicKey), nil
	case keyArg != "":
		if b, err := os.ReadFile(keyArg); err == nil {
			if len(b) == ed25519.PublicKeySize {
				return ed25519.PublicKey(b), nil // raw bytes
			}
			pub, err := recorder.ParsePublicKey(string(b))
			if err != nil {
				return nil, fmt.Errorf("--key file %s: %w", keyArg, err)
			}
			return pub, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--key: %w", err)
		}
		pub, err := recorder.ParsePublicKey(keyArg)
		if err != nil {
			return nil, fmt.Errorf("--key is neither a file nor a base64 key: %w", err)
		}
		return pub, nil
	}
	return nil, nil
}

// recordingsRepair repairs each file and prints what it did; the error it
// returns (exit status 1) counts the files not repaired.
func recordingsRepair(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("stoa recordings repair", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataDir := fs.String("data-dir", "", "sign the repaired file's manifest with DIR/recording.key")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, recordingsUsage)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("stoa recordings repair needs at least one file\n%s", recordingsUsage)
	}
	var key ed25519.PrivateKey
	if *dataDir != "" {
		k, err := recorder.LoadKey(*dataDir)
		if err != nil {
			return err
		}
		key = k
	}
	failed := 0
	for _, path := range fs.Args() {
		res, err := recorder.RepairFile(path, key)
		if err != nil {
			failed++
			fmt.Fprintf(out, "%s: ERROR: %v\n", path, err)
			continue
		}
		fmt.Fprintf(out, "%s: repaired into %s: %d clusters kept, %d cue points, duration %.3f s, truncated tail of %d bytes dropped\n",
			path, res.Path, res.Clusters, res.Cues, res.Duration.Seconds(), res.TailBytes)
		if res.ManifestPath != "" {
			fmt.Fprintf(out, "%s: signed manifest %s (repair of chain %s)\n", path, res.ManifestPath, res.OriginalFinal)
		} else {
			fmt.Fprintf(out, "%s: no manifest written (give --data-dir to sign one)\n", path)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d recordings not repaired", failed, fs.NArg())
	}
	return nil
}

package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestLoadtestCmdFlags(t *testing.T) {
	var out bytes.Buffer
	if err := loadtestCmd([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	for _, want := range []string{"usage: stoa loadtest", "-server-pid", "-galene", "-ice-ip"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %q:\n%s", want, out.String())
		}
	}
	t.Setenv("STOA_TOKEN_SECRET", "do-not-print-me")
	out.Reset()
	_ = loadtestCmd([]string{"--help"}, &out)
	if strings.Contains(out.String(), "do-not-print-me") {
		t.Error("--help prints the token secret from the environment")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--video"},
		{[]string{"--video", "clip.mp4"}, ".ivf"},
		{[]string{"--video", "x.ivf", "extra"}, "no arguments"},
	} {
		err := loadtestCmd(tc.args, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one mentioning %s", tc.args, err, tc.want)
		}
	}
}

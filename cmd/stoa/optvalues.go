package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The option value types below implement flag.Value over Config fields; the
// same Set parses environment variables, so both accept the same syntax.

type optString string

func (s *optString) String() string     { return string(*s) }
func (s *optString) Set(v string) error { *s = optString(v); return nil }

type optInt int

func (n *optInt) String() string { return strconv.Itoa(int(*n)) }
func (n *optInt) Set(v string) error {
	i, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not an integer", v)
	}
	*n = optInt(i)
	return nil
}

type optBool bool

func (b *optBool) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) Set(v string) error {
	x, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a boolean (true/false/1/0)", v)
	}
	*b = optBool(x)
	return nil
}

type optDuration time.Duration

func (d *optDuration) String() string { return time.Duration(*d).String() }
func (d *optDuration) Set(v string) error {
	x, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 20s or 1m30s", v)
	}
	*d = optDuration(x)
	return nil
}

// optList is a comma-separated, repeatable list. The first Set replaces
// what the list held (from defaults, YAML or env); later ones append.
type optList struct {
	p   *[]string
	set bool
}

func (l *optList) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l *optList) Set(v string) error {
	if !l.set {
		*l.p = nil
		l.set = true
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l.p = append(*l.p, s)
		}
	}
	return nil
}

type optFloat float64

func (f *optFloat) String() string { return strconv.FormatFloat(float64(*f), 'g', -1, 64) }
func (f *optFloat) Set(v string) error {
	x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", v)
	}
	*f = optFloat(x)
	return nil
}

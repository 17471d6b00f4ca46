package ocr

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Vehicle licence plates (GA 36-2018). A plate is the issuing province's
// abbreviation, the issuing authority's letter and a serial: five characters
// (ordinary), six (new-energy), or four and a suffix (学 警 挂 领 港 澳).

// plateProvinces are the province abbreviations that start a plate.
const plateProvinces = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

// plateKinds are the plate formats, tried in order. A serial never holds I
// or O (they would pass for 1 and 0).
var plateKinds = []struct {
	kind string
	re   *regexp.Regexp
}{
	{"ordinary", regexp.MustCompile(`^[` + plateProvinces + `][A-HJ-Z][A-HJ-NP-Z0-9]{5}$`)},
	{"new-energy-small", regexp.MustCompile(`^[` + plateProvinces + `][A-HJ-Z][DF][A-HJ-NP-Z0-9][0-9]{4}$`)},
	{"new-energy-large", regexp.MustCompile(`^[` + plateProvinces + `][A-HJ-Z][0-9]{5}[DF]$`)},
	{"learner", regexp.MustCompile(`^[` + plateProvinces + `][A-HJ-Z][A-HJ-NP-Z0-9]{4}学$`)},
	{"police", regexp.MustCompile(`^[` + plateProvinces + `][A-HJ-Z][A-HJ-NP-Z0-9]{4}警$`)},
	{"trailer", regexp.MustCompile(`^[` + plateProvinces + `][A-HJ-Z][A-HJ-NP-Z0-9]{4}挂$`)},
	{"consulate", regexp.MustCompile(`^[` + plateProvinces + `][A-HJ-Z][0-9]{4}领$`)},
	{"hongkong", regexp.MustCompile(`^粤Z[A-HJ-NP-Z0-9]{4}港$`)},
	{"macau", regexp.MustCompile(`^粤Z[A-HJ-NP-Z0-9]{4}澳$`)},
	{"embassy", regexp.MustCompile(`^(?:使[0-9]{6}|[0-9]{6}使)$`)},
}

// ValidPlate reports whether s is a Chinese vehicle plate number written
// without separators ("京A12345", "沪AD12345", "粤B12345D", "京A1234学").
func ValidPlate(s string) bool { return plateKind(s) != "" }

// plateKind names the format of a plate number, or returns "" for none.
func plateKind(s string) string {
	for _, k := range plateKinds {
		if k.re.MatchString(s) {
			return k.kind
		}
	}
	return ""
}

// plateText reduces a line to plate characters: separators (· • . - spaces)
// go and letters become upper case.
func plateText(s string) string {
	var b strings.Builder
	for _, r := range tidyText(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case strings.ContainsRune(" ·•・･.-_:", r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// plateLengths lists the plate lengths in characters, longest first, so a
// new-energy plate is not read as an ordinary plate and a stray character.
var plateLengths = []int{8, 7}

// readPlate finds a plate number in the lines, or in two consecutive lines
// (the two rows of a large vehicle's plate).
func readPlate(lines []Line) Result {
	fs := fieldSet{}
	texts := make([]string, len(lines))
	for i, ln := range lines {
		texts[i] = plateText(ln.Text)
	}
	var fallback string
	var fallbackScore float32
	try := func(t string, score float32) bool {
		rs := []rune(t)
		for i, r := range rs {
			if !strings.ContainsRune(plateProvinces+"使", r) && !(isDigit(r) && i == 0) {
				continue
			}
			for _, n := range plateLengths {
				if i+n > len(rs) || i+n < len(rs) && isAlnum(rs[i+n]) {
					continue
				}
				if p, kind := fixPlate(rs[i : i+n]); kind != "" {
					fs.ok("plate", p, score)
					fs.ok("type", kind, score)
					return true
				}
			}
			if fallback == "" && strings.ContainsRune(plateProvinces, r) {
				j := i + 1
				for j < len(rs) && j-i < 8 && (isAlnum(rs[j]) || strings.ContainsRune("学警挂领港澳", rs[j])) {
					j++
				}
				if j-i >= 6 {
					fallback, fallbackScore = string(rs[i:j]), score
				}
			}
		}
		return false
	}
	for i, t := range texts {
		if try(t, lines[i].Score) {
			return fs.result("plate", "plate")
		}
	}
	for i := 0; i+1 < len(texts); i++ {
		if utf8.RuneCountInString(texts[i]) <= 3 && try(texts[i]+texts[i+1], min(lines[i].Score, lines[i+1].Score)) {
			return fs.result("plate", "plate")
		}
	}
	if fallback != "" {
		fs.bad("plate", fallback, fallbackScore, "not a valid plate number")
	}
	return fs.result("plate", "plate")
}

// fixPlate corrects a candidate plate where a position's rule leaves no
// doubt (O and I are never in a serial, so they are 0 and 1; positions that
// must be digits take digit confusables) and returns it with its format, or
// "" when no correction makes it valid.
func fixPlate(rs []rune) (string, string) {
	base := make([]rune, len(rs))
	for i, r := range rs {
		base[i] = r
		if i >= 2 && (r == 'O' || r == 'I') {
			base[i] = map[rune]rune{'O': '0', 'I': '1'}[r]
		}
	}
	if k := plateKind(string(base)); k != "" {
		return string(base), k
	}
	if len(rs) != 8 {
		return "", ""
	}
	// new-energy: serial digits in positions 3–7 (large) or 5–8 (small)
	for _, digitsAt := range [][2]int{{2, 7}, {4, 8}} {
		v := append([]rune(nil), base...)
		for i := digitsAt[0]; i < digitsAt[1]; i++ {
			if d, ok := digitLike(v[i]); ok {
				v[i] = d
			}
		}
		if k := plateKind(string(v)); k != "" {
			return string(v), k
		}
	}
	return "", ""
}

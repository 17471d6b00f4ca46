package ocr

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// dateLayout is how dates are formatted in Field values.
const dateLayout = "2006-01-02"

// chinaTime is the zone in which "today" is decided: the documents are Chinese.
var chinaTime = time.FixedZone("CST", 8*3600)

// ParseChineseDate parses a printed date: "1990年1月2日", "1990.01.02",
// "1990-01-02", "1990/1/2" or "19900102". Spaces and full-width digits are
// allowed; the separators . - / may be mixed (OCR confuses them); the date
// must exist (no 30 February). The result is midnight UTC.
func ParseChineseDate(s string) (time.Time, error) {
	var b strings.Builder
	for _, r := range s {
		if r = narrow(r); !unicode.IsSpace(r) {
			b.WriteRune(r)
		}
	}
	t := []rune(b.String())
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("parse date %q: %s", s, why)
	}
	if len(t) > 12 {
		return bad("too long")
	}
	var y, m, d int
	num := func(i, minN, maxN int) (v, next int, ok bool) {
		for next = i; next < len(t) && next-i < maxN && isDigit(t[next]); next++ {
			v = v*10 + int(t[next]-'0')
		}
		return v, next, next-i >= minN
	}
	if len(t) == 8 && allDigits(t) {
		y, _, _ = num(0, 4, 4)
		m, _, _ = num(4, 2, 2)
		d, _, _ = num(6, 2, 2)
	} else {
		var i int
		var ok bool
		if y, i, ok = num(0, 4, 4); !ok || i == len(t) {
			return bad("want a four-digit year and a separator")
		}
		han := t[i] == '年'
		if !han && !isDateSep(t[i]) {
			return bad(fmt.Sprintf("unexpected %q after the year", t[i]))
		}
		if m, i, ok = num(i+1, 1, 2); !ok || i == len(t) {
			return bad("want a month and a separator")
		}
		if han && t[i] != '月' || !han && !isDateSep(t[i]) {
			return bad(fmt.Sprintf("unexpected %q after the month", t[i]))
		}
		if d, i, ok = num(i+1, 1, 2); !ok {
			return bad("want a day")
		}
		if han && i < len(t) && t[i] == '日' {
			i++
		}
		if i != len(t) {
			return bad("unexpected text after the day")
		}
	}
	if y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, time.Month(m)) {
		return bad("no such date")
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), nil
}

// isDateSep reports a numeric date separator.
func isDateSep(r rune) bool { return r == '.' || r == '-' || r == '/' }

// allDigits reports whether every rune is an ASCII digit.
func allDigits(rs []rune) bool {
	for _, r := range rs {
		if !isDigit(r) {
			return false
		}
	}
	return true
}

// daysIn returns the number of days in month m of year y.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// today is the current date in China, as midnight UTC like parsed dates.
func today() time.Time {
	y, m, d := now().In(chinaTime).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// plausiblePast checks a date of birth, issue or founding: from 1900 on and
// not after today.
func plausiblePast(t time.Time) error {
	switch {
	case t.Year() < 1900:
		return errors.New("before 1900")
	case t.After(today()):
		return errors.New("in the future")
	}
	return nil
}

// readPastDate parses a printed date that must lie between 1900 and today,
// correcting digit confusables first. It returns the value to report: the
// date as YYYY-MM-DD, or the text as read when it is not a date.
func readPastDate(raw string) (string, time.Time, error) {
	t, err := ParseChineseDate(fixDigits(raw))
	if err != nil {
		return raw, time.Time{}, err
	}
	if err := plausiblePast(t); err != nil {
		return t.Format(dateLayout), t, fmt.Errorf("date %s: %w", t.Format(dateLayout), err)
	}
	return t.Format(dateLayout), t, nil
}

// longTerm is how a validity without end is printed.
const longTerm = "长期"

// datesIn matches the dates in a validity such as "2016.01.01-2036.01.01".
var datesIn = regexp.MustCompile(`\d{4}[.\-/年]\d{1,2}[.\-/月]\d{1,2}日?|\d{8}`)

// yearsOnly matches a validity printed as a span only, as in "6年".
var yearsOnly = regexp.MustCompile(`^(\d{1,2})年$`)

// validity is a document's period of validity as printed.
type validity struct {
	from, to       string // values to report: YYYY-MM-DD, 长期, or the raw text
	fromT, toT     time.Time
	fromErr, toErr error
	longTerm       bool
	years          int // the printed span, as in "6年", when there are no dates
}

// readValidity reads a printed validity: two dates ("2016.01.01-2036.01.01",
// "2016-05-06 至 2026-05-06"), a date and 长期, or only a span ("6年", "长期").
func readValidity(raw string) validity {
	var v validity
	s := fixDigits(raw)
	v.longTerm = strings.Contains(s, longTerm)
	dates := datesIn.FindAllString(s, 3)
	if len(dates) == 0 {
		v.fromErr = errors.New("no start date")
		if m := yearsOnly.FindStringSubmatch(s); m != nil {
			fmt.Sscan(m[1], &v.years)
		}
	} else {
		v.setFrom(dates[0])
	}
	switch {
	case v.longTerm:
		v.to = longTerm
	case len(dates) > 1:
		v.to = dates[1]
		if v.toT, v.toErr = ParseChineseDate(dates[1]); v.toErr == nil {
			v.to = v.toT.Format(dateLayout)
		}
	case v.years == 0:
		v.toErr = errors.New("no end date")
	}
	return v
}

// setFrom sets the start of a validity from a printed date.
func (v *validity) setFrom(date string) {
	v.from = date
	if v.fromT, v.fromErr = ParseChineseDate(fixDigits(date)); v.fromErr == nil {
		v.from = v.fromT.Format(dateLayout)
		if err := plausiblePast(v.fromT); err != nil {
			v.fromErr = fmt.Errorf("start %s: %w", v.from, err)
		}
	}
}

// span checks a validity against the spans (in years) its document's rules
// allow, and that the start is before the end. A span printed only in years
// ("6年") gives the end. Errors go to the end, as the start is checked alone.
func (v *validity) span(allowed ...int) {
	if v.years != 0 && v.fromErr == nil {
		v.toT = v.fromT.AddDate(v.years, 0, 0)
		v.to, v.toErr = v.toT.Format(dateLayout), nil
	}
	if v.fromErr != nil || v.toErr != nil || v.longTerm {
		switch {
		case v.toErr != nil || v.longTerm:
		case v.years != 0:
			v.toErr = fmt.Errorf("a span of %d years without a start date", v.years)
		default:
			v.toErr = errors.New("span not checked: the start date is not valid")
		}
		return
	}
	if !v.toT.After(v.fromT) {
		v.toErr = fmt.Errorf("end %s is not after start %s", v.to, v.from)
		return
	}
	for _, a := range allowed {
		end := v.fromT.AddDate(a, 0, 0) // 29 February + a years is 1 March …
		feb28 := time.Date(v.fromT.Year()+a, time.February, 28, 0, 0, 0, 0, time.UTC)
		if v.toT.Equal(end) || v.fromT.Month() == time.February && v.fromT.Day() == 29 && v.toT.Equal(feb28) {
			return // … or 28 February
		}
	}
	v.toErr = fmt.Errorf("validity %s to %s is not a span of %s years", v.from, v.to, joinInts(allowed))
}

// joinInts formats 5, 10, 20 as "5, 10 or 20".
func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

package ocr

import (
	"image"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds what every reader needs from raw OCR text: one tidy form
// of a line, digit-confusable correction, runs of digits, and the split of a
// document's lines into labelled segments ("姓名" → "张三").

// tidyText normalizes one OCR line: full-width ASCII becomes ASCII, control
// and undecodable characters go, and whitespace is dropped except for one
// space between two non-Han characters (so "姓 名 张 三" reads "姓名张三" but
// "Zhang San" and "6222 0212" keep their spaces).
func tidyText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	var prev rune
	space := false
	for _, r := range s {
		r = narrow(r)
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case r == utf8.RuneError || unicode.IsControl(r) || r == '\u200b' || r == '\ufeff':
			continue
		}
		if space && prev != 0 && !wide(prev) && !wide(r) {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// narrow maps full-width ASCII forms and the ideographic space to ASCII.
func narrow(r rune) rune {
	switch {
	case r >= 0xff01 && r <= 0xff5e:
		return r - 0xfee0
	case r == 0x3000:
		return ' '
	}
	return r
}

// wide reports a Han character or CJK punctuation, next to which a space
// means nothing.
func wide(r rune) bool {
	return unicode.Is(unicode.Han, r) || (r >= 0x3000 && r <= 0x303f) || (r >= 0xff00 && r <= 0xffef)
}

// isHan reports a Han (Chinese) character.
func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

// isDigit reports an ASCII digit.
func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// isAlnum reports an ASCII letter or digit.
func isAlnum(r rune) bool {
	return isDigit(r) || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
}

// digitLike maps the letters an OCR confuses with digits to those digits
// (O→0, I/l/|→1, Z→2, S→5, B→8). Only fields where nothing but a digit may
// stand use it; elsewhere a letter is a letter.
func digitLike(r rune) (rune, bool) {
	switch r {
	case 'O', 'o':
		return '0', true
	case 'I', 'l', '|':
		return '1', true
	case 'Z', 'z':
		return '2', true
	case 'S', 's':
		return '5', true
	case 'B':
		return '8', true
	}
	if isDigit(r) {
		return r, true
	}
	return 0, false
}

// fixDigits replaces digit confusables by digits and leaves every other
// character alone; it is for strings (dates, numbers) that must be digits
// apart from their separators.
func fixDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if d, ok := digitLike(r); ok {
			return d
		}
		return r
	}, s)
}

// run is a stretch of digit-like characters found in a line.
type run struct {
	text   string // the characters, spaces removed, not yet corrected
	digits int    // how many of them are real ASCII digits
}

// runs returns the stretches of s made of characters accepted by in, allowing
// single spaces between them; the spaces are dropped.
func runs(s string, in func(r rune) bool) []run {
	var out []run
	var cur []rune
	digits := 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, run{text: string(cur), digits: digits})
		}
		cur, digits = cur[:0], 0
	}
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case in(r):
			cur = append(cur, r)
			if isDigit(r) {
				digits++
			}
		case r == ' ' && len(cur) > 0 && i+1 < len(rs) && in(rs[i+1]):
			// a space inside a run, as between printed digit groups
		default:
			flush()
		}
	}
	flush()
	return out
}

// longestRun returns the longest run in s (the first of equals).
func longestRun(s string, in func(r rune) bool) run {
	var best run
	for _, r := range runs(s, in) {
		if utf8.RuneCountInString(r.text) > utf8.RuneCountInString(best.text) {
			best = r
		}
	}
	return best
}

// fieldLabel is how one field is labelled on a document.
type fieldLabel struct {
	field string
	// names are the label's spellings as tidyText leaves them; a name made
	// of ASCII letters matches case-insensitively.
	names []string
	// inline lets a non-ASCII name start mid-line: the field shares a printed
	// row with another one ("性别 男 民族 汉").
	inline bool
	// multiline lets the value wrap onto the following lines (addresses).
	multiline bool
}

// textSegment is a labelled value, or an unlabelled stretch of text (field "").
type textSegment struct {
	field string
	value string
	score float32 // lowest score of the lines that gave value text
	last  Line    // the last line that gave value text
}

// docLayout is the set of labels of one document kind, and optionally how to
// recognize the one field whose line may carry no label at all.
type docLayout struct {
	labels []fieldLabel
	// unlabelled names the field of a line without a leading label (an ID
	// number printed alone), or returns "".
	unlabelled func(text string) string
}

// labelHit is a label found in a line: the field and the label's byte span.
type labelHit struct {
	label      *fieldLabel
	start, end int
}

// find returns the labels in a tidy line, in order. A label matches at the
// start of the line, or anywhere if it is inline; right after a label, further
// spellings of the same label are swallowed ("姓名 Name").
func (d docLayout) find(t string) []labelHit {
	lower := asciiLower(t)
	var hits []labelHit
	for i := 0; i < len(t); {
		var best *fieldLabel
		bestEnd := 0
		for k := range d.labels {
			l := &d.labels[k]
			for _, name := range l.names {
				if i > 0 && !(l.inline && !isASCII(name)) {
					continue
				}
				if end := labelEnd(lower, i, name); end > bestEnd {
					best, bestEnd = l, end
				}
			}
		}
		if best == nil {
			_, size := utf8.DecodeRuneInString(t[i:])
			i += size
			continue
		}
		for more := true; more; {
			more = false
			next := bestEnd
			for next < len(lower) && (lower[next] == ' ' || lower[next] == ':') {
				next++
			}
			for _, name := range best.names {
				if end := labelEnd(lower, next, name); end > next {
					bestEnd, more = end, true
					break
				}
			}
		}
		hits = append(hits, labelHit{label: best, start: i, end: bestEnd})
		i = bestEnd
	}
	return hits
}

// labelEnd returns where label name ends if it starts at byte i of the
// lower-cased line, or -1. ASCII names match case- and space-insensitively,
// as OCR spaces English labels as it likes ("Date ofBirth").
func labelEnd(lower string, i int, name string) int {
	name = asciiLower(name)
	if !isASCII(name) {
		if strings.HasPrefix(lower[i:], name) {
			return i + len(name)
		}
		return -1
	}
	j := i
	for k := 0; k < len(name); k++ {
		if name[k] == ' ' {
			continue
		}
		for j > i && j < len(lower) && lower[j] == ' ' {
			j++
		}
		if j >= len(lower) || lower[j] != name[k] {
			return -1
		}
		j++
	}
	return j
}

// segments splits lines into labelled values. A value is the text after its
// label up to the next label; a label alone on its line takes the next line;
// a multiline value takes following unlabelled lines that sit under it.
func (d docLayout) segments(lines []Line) []textSegment {
	var segs []textSegment
	open := -1 // the segment that may take the next line's leading text
	for _, ln := range sameRowByX(lines) {
		t := tidyText(ln.Text)
		if t == "" {
			continue
		}
		hits := d.find(t)
		lead := t
		if len(hits) > 0 {
			lead = t[:hits[0].start]
		}
		if lead = trimValue(lead); lead != "" {
			field := ""
			if d.unlabelled != nil {
				field = d.unlabelled(lead)
			}
			target := -1
			if field == "" {
				target = d.continued(segs, open, ln)
			}
			switch {
			case field != "":
				segs = append(segs, textSegment{field: field, value: lead, score: ln.Score, last: ln})
				open = -1
			case target >= 0:
				open = target
				s := &segs[open]
				if s.value == "" {
					s.value, s.score = lead, ln.Score
				} else {
					s.value = joinText(s.value, lead)
					s.score = min(s.score, ln.Score)
				}
				s.last = ln
				if !labelOf(d, s.field).multiline {
					open = -1
				}
			default:
				segs = append(segs, textSegment{value: lead, score: ln.Score, last: ln})
				open = -1
			}
		}
		for k, h := range hits {
			end := len(t)
			if k+1 < len(hits) {
				end = hits[k+1].start
			}
			s := textSegment{field: h.label.field, value: trimValue(t[h.end:end])}
			if s.value != "" {
				s.score, s.last = ln.Score, ln
			}
			segs = append(segs, s)
			open = -1
			if k == len(hits)-1 && (s.value == "" || h.label.multiline) {
				open = len(segs) - 1
			}
		}
	}
	return segs
}

// continued returns the segment that the unlabelled line ln continues, or
// -1: the open segment if it takes the line, or else (when lines have boxes)
// a recent wrapping value that the line sits under, as when two columns of
// a licence are read row by row.
func (d docLayout) continued(segs []textSegment, open int, ln Line) int {
	if open >= 0 && takes(segs[open], ln) {
		return open
	}
	if !hasBox(ln) {
		return -1
	}
	for k := len(segs) - 1; k >= 0 && k >= len(segs)-6; k-- {
		if s := segs[k]; s.value != "" && hasBox(s.last) && labelOf(d, s.field).multiline && takes(s, ln) {
			return k
		}
	}
	return -1
}

// takes reports whether a segment may take the text of line ln: a label still
// waiting for its value takes any line; a wrapping value takes a line that
// sits just below its last line and overlaps it horizontally (when the lines
// have boxes), so that a neighbouring column is not swallowed.
func takes(s textSegment, ln Line) bool {
	if s.value == "" {
		return true
	}
	if !hasBox(s.last) || !hasBox(ln) {
		return true
	}
	a, b := boxRect(s.last), boxRect(ln)
	h := a.Dy()
	return b.Min.Y >= a.Min.Y+h/3 && b.Min.Y-a.Max.Y <= h && b.Min.X < a.Max.X && b.Max.X > a.Min.X
}

// labelOf returns the label of a field ("" gives an empty label).
func labelOf(d docLayout, field string) fieldLabel {
	for _, l := range d.labels {
		if l.field == field {
			return l
		}
	}
	return fieldLabel{}
}

// first returns the first segment of field with a value.
func first(segs []textSegment, field string) (textSegment, bool) {
	for _, s := range segs {
		if s.field == field && s.value != "" {
			return s, true
		}
	}
	return textSegment{}, false
}

// trimValue strips the separators OCR leaves between a label and its value.
func trimValue(s string) string {
	return strings.TrimSpace(strings.TrimLeft(s, " :;,.、|"))
}

// joinText joins wrapped text, with a space only between two ASCII letters.
func joinText(a, b string) string {
	ra, _ := utf8.DecodeLastRuneInString(a)
	rb, _ := utf8.DecodeRuneInString(b)
	if isAlnum(ra) && isAlnum(rb) && !isDigit(ra) && !isDigit(rb) {
		return a + " " + b
	}
	return a + b
}

// asciiLower lower-cases ASCII letters only, so byte offsets stay put.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// hasBox reports whether a line carries a box (tests and some callers don't).
func hasBox(l Line) bool { return l.Box != [4]image.Point{} }

// boxRect is the bounding rectangle of a line's box.
func boxRect(l Line) image.Rectangle {
	r := image.Rectangle{Min: l.Box[0], Max: l.Box[0]}
	for _, p := range l.Box[1:] {
		r.Min.X, r.Min.Y = min(r.Min.X, p.X), min(r.Min.Y, p.Y)
		r.Max.X, r.Max.Y = max(r.Max.X, p.X), max(r.Max.Y, p.Y)
	}
	return r
}

// sameRow reports whether two horizontal lines share a printed row: their
// vertical extents overlap by more than half the shorter one.
func sameRow(a, b Line) bool {
	if !hasBox(a) || !hasBox(b) {
		return false
	}
	ra, rb := boxRect(a), boxRect(b)
	if ra.Dx() < ra.Dy() || rb.Dx() < rb.Dy() {
		return false // not horizontal text: leave the order alone
	}
	overlap := min(ra.Max.Y, rb.Max.Y) - max(ra.Min.Y, rb.Min.Y)
	return overlap*2 > min(ra.Dy(), rb.Dy())
}

// sameRowByX puts consecutive lines of one printed row in left-to-right
// order, leaving the order of rows as given.
func sameRowByX(lines []Line) []Line {
	out := append([]Line(nil), lines...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && sameRow(out[j-1], out[j]) && boxRect(out[j]).Min.X < boxRect(out[j-1]).Min.X; j-- {
			out[j-1], out[j] = out[j], out[j-1]
		}
	}
	return out
}

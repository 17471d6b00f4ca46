package ocr

import (
	"fmt"
	"regexp"
	"strings"
)

// Bank cards: the number is printed (often embossed) in groups of digits and
// carries a Luhn check digit; the expiry is MM/YY near "VALID THRU".

// expiryPattern matches MM/YY or MM/YYYY, allowing digit confusables.
// A letter may touch the month ("THRU12/33" when OCR glues the label on).
var expiryPattern = regexp.MustCompile(`(?:^|[^0-9])([0-9OoIlZSB]{2}) ?/ ?([0-9OoIlZSB]{4}|[0-9OoIlZSB]{2})(?:$|[^0-9A-Za-z])`)

// groupSeparators are what OCR reads between embossed digit groups besides
// spaces: the gaps show up as dots or dashes.
var groupSeparators = strings.NewReplacer(".", " ", "·", " ", "-", " ", "_", " ")

// expiryLabels introduce the expiry date ("VALID THRU", "GOOD THRU", "EXP", 有效期).
var expiryLabels = []string{"THRU", "EXP", "GOOD", "有效期", "到期"}

// cardToken is a group of printed card-number digits.
type cardToken struct {
	digits string // corrected digits
	fixed  int    // how many confusables were corrected
	line   int    // index of the line
}

// readBankCard reads a bank card: its number (Luhn-checked), and the expiry,
// network and bank when printed.
func readBankCard(lines []Line) Result {
	fs := fieldSet{}
	texts := make([]string, len(lines))
	for i, ln := range lines {
		texts[i] = tidyText(ln.Text)
	}
	readExpiry(fs, lines, texts)

	// Sequences of digit groups; a number broken over two lines that hold
	// nothing else is joined again.
	var seqs [][]cardToken
	prevNumeric := false
	for i, t := range texts {
		lineSeqs, numeric := cardSequences(groupSeparators.Replace(expiryPattern.ReplaceAllString(t, " # ")), i)
		if numeric && prevNumeric && len(seqs) > 0 && len(lineSeqs) == 1 {
			seqs[len(seqs)-1] = append(seqs[len(seqs)-1], lineSeqs[0]...)
		} else {
			seqs = append(seqs, lineSeqs...)
		}
		prevNumeric = numeric
	}
	// candidates lists the digit windows that may be the card number, best
	// first. A sequence that is a whole card number by itself is taken
	// whole: a misread one must fail the Luhn check, not pass through a part
	// of it that happens to.
	var candidates [][]cardToken
	for _, seq := range seqs {
		if all, fixed := joinTokens(seq); len(all) >= 13 && len(all) <= 19 && fixed <= 3 {
			candidates = append(candidates, seq)
			continue
		}
		for start := range seq {
			last := start // the longest window that may still hold at most 19 digits
			for n := 0; last < len(seq) && n+len(seq[last].digits) <= 19; last++ {
				n += len(seq[last].digits)
			}
			for end := last; end > start; end-- {
				if digits, fixed := joinTokens(seq[start:end]); len(digits) >= 13 && len(digits) <= 19 && fixed <= 3 {
					candidates = append(candidates, seq[start:end])
				}
			}
		}
	}
	for _, w := range candidates {
		if digits, _ := joinTokens(w); ValidLuhn(digits) {
			fs.ok("card_number", digits, tokenScore(lines, w))
			if n := cardNetwork(digits); n != "" {
				fs.ok("network", n, tokenScore(lines, w))
			}
			return bankResult(fs, lines, texts)
		}
	}
	if len(candidates) > 0 {
		digits, _ := joinTokens(candidates[0])
		fs.bad("card_number", digits, tokenScore(lines, candidates[0]), "fails the Luhn check")
	}
	return bankResult(fs, lines, texts)
}

// bankResult adds the bank's name, when a line carries one, and completes
// the result.
func bankResult(fs fieldSet, lines []Line, texts []string) Result {
	for i, t := range texts {
		if strings.Contains(t, "银行") || strings.Contains(strings.ToUpper(t), "BANK") {
			fs.ok("bank", t, lines[i].Score)
			break
		}
	}
	return fs.result("bankcard", "card_number")
}

// cardSequences splits a tidy line into sequences of digit groups separated
// by single spaces, and reports whether the line holds nothing else. A group
// is a whole alphanumeric word that is all digits or confusables, at least
// half of them real digits, so "ZHANG SAN" gives nothing.
func cardSequences(t string, line int) (seqs [][]cardToken, numeric bool) {
	numeric = true
	var cur []cardToken
	rs := []rune(t)
	for i := 0; i < len(rs); {
		if !isAlnum(rs[i]) {
			if rs[i] != ' ' || len(cur) == 0 {
				if len(cur) > 0 {
					seqs = append(seqs, cur)
					cur = nil
				}
				if rs[i] != ' ' {
					numeric = false
				}
			}
			i++
			continue
		}
		j := i
		for j < len(rs) && isAlnum(rs[j]) {
			j++
		}
		tok := cardToken{line: line}
		real := 0
		ok := j-i <= 19
		var digits strings.Builder
		for _, r := range rs[i:j] {
			d, isD := digitLike(r)
			if !ok || !isD {
				ok = false
				break
			}
			if d == r {
				real++
			} else {
				tok.fixed++
			}
			digits.WriteRune(d)
		}
		tok.digits = digits.String()
		if ok && real*2 >= j-i {
			cur = append(cur, tok)
		} else {
			numeric = false
			if len(cur) > 0 {
				seqs = append(seqs, cur)
				cur = nil
			}
		}
		// a group ends the sequence unless a single space follows
		if j < len(rs) && rs[j] != ' ' && len(cur) > 0 {
			seqs = append(seqs, cur)
			cur = nil
		}
		i = j
	}
	if len(cur) > 0 {
		seqs = append(seqs, cur)
	}
	return seqs, numeric && len(seqs) > 0
}

// joinTokens concatenates groups, counting corrected confusables.
func joinTokens(w []cardToken) (string, int) {
	var b strings.Builder
	fixed := 0
	for _, t := range w {
		b.WriteString(t.digits)
		fixed += t.fixed
	}
	return b.String(), fixed
}

// tokenScore is the lowest score of the lines the groups came from.
func tokenScore(lines []Line, w []cardToken) float32 {
	s := lines[w[0].line].Score
	for _, t := range w {
		s = min(s, lines[t.line].Score)
	}
	return s
}

// readExpiry finds the expiry date: the first MM/YY after an expiry label (on
// its line or the next), or else the latest MM/YY on the card, since a
// "VALID FROM" date comes before it.
func readExpiry(fs fieldSet, lines []Line, texts []string) {
	type found struct {
		mm, yy string
		score  float32
	}
	var all []found
	var labelled *found
	labelLine := -2
	for i, t := range texts {
		upper := strings.ToUpper(t)
		at := -1
		for _, l := range expiryLabels {
			if k := strings.Index(upper, l); k >= 0 && (at < 0 || k < at) {
				at = k
			}
		}
		for _, m := range expiryPattern.FindAllStringSubmatchIndex(t, -1) {
			mm, yy := fixDigits(t[m[2]:m[3]]), fixDigits(t[m[4]:m[5]])
			if real := countDigits(t[m[2]:m[3]] + t[m[4]:m[5]]); real < 3 {
				continue
			}
			f := found{mm: mm, yy: yy[len(yy)-2:], score: lines[i].Score}
			all = append(all, f)
			if labelled == nil && (at >= 0 && m[2] >= at || at < 0 && labelLine == i-1) {
				labelled = &all[len(all)-1]
			}
		}
		if at >= 0 {
			labelLine = i
		}
	}
	if len(all) == 0 {
		return
	}
	f := all[0]
	if labelled != nil {
		f = *labelled
	} else {
		for _, g := range all[1:] {
			if g.yy+g.mm > f.yy+f.mm {
				f = g
			}
		}
	}
	v := f.mm + "/" + f.yy
	if f.mm < "01" || f.mm > "12" {
		fs.bad("expiry", v, f.score, fmt.Sprintf("month %s is not 01 to 12", f.mm))
		return
	}
	fs.ok("expiry", v, f.score)
}

// countDigits counts the ASCII digits in s.
func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if isDigit(r) {
			n++
		}
	}
	return n
}

// cardNetwork names the card network from the number's leading digits, or "".
func cardNetwork(n string) string {
	p := func(k int) int {
		v := 0
		for i := 0; i < k && i < len(n); i++ {
			v = v*10 + int(n[i]-'0')
		}
		return v
	}
	switch {
	case p(2) == 62 || p(2) == 81:
		return "unionpay"
	case p(1) == 4:
		return "visa"
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return "mastercard"
	case p(2) == 34 || p(2) == 37:
		return "amex"
	case p(4) >= 3528 && p(4) <= 3589:
		return "jcb"
	case p(4) == 6011, p(2) == 65, p(3) >= 644 && p(3) <= 649:
		return "discover"
	case p(2) == 36, p(2) == 38, p(2) == 39, p(3) >= 300 && p(3) <= 305:
		return "diners"
	}
	return ""
}

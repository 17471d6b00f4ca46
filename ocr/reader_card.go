package ocr

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Business cards have no labels to speak of: each field is recognized by
// its shape (a short line of Chinese characters, a phone number, an email
// address, a line with 公司 or Ltd).

// emailPattern matches an email address.
var emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)

// companyWords mark a company's name (matched case-insensitively).
var companyWords = []string{"公司", "有限", "集团", "事务所", "工作室", "co.", "ltd", "inc.", "corp", "llc", "limited", "gmbh"}

// titleWords mark a job title (matched case-insensitively).
var titleWords = []string{"经理", "总监", "总裁", "主管", "董事", "主任", "工程师", "顾问", "专员", "助理", "代表",
	"秘书", "会计", "律师", "医生", "教授", "老师", "设计师", "首席", "执行官", "主席", "创始人", "合伙人", "总经理",
	"部长", "科长", "院长", "校长", "处长", "厂长", "店长", "组长", "队长", "社长", "所长", "局长", "会长", "行长", "主编",
	"manager", "director", "president", "ceo", "cto", "cfo", "coo", "founder", "engineer", "consultant",
	"sales", "officer", "head of", "partner", "chairman", "assistant", "specialist", "executive", "designer",
	"developer", "representative", "secretary", "accountant", "lawyer", "attorney"}

// notNameWords mark a short Chinese line that is not a person's name.
var notNameWords = []string{"地址", "电话", "手机", "传真", "邮箱", "网址", "微信", "公司", "有限", "集团", "欢迎", "服务"}

// notNameEnds are endings of departments and places, not of names.
const notNameEnds = "部处科市区县省路街号司院厅局室厂店组"

// containsAny reports whether s contains one of words, ignoring ASCII case.
func containsAny(s string, words []string) bool {
	lower := asciiLower(s)
	for _, w := range words {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// collapse narrows full-width characters and collapses whitespace, keeping
// the spaces of Latin text ("Acme Co., Ltd").
func collapse(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r = narrow(r); r == utf8.RuneError || r < ' ' {
			return -1
		}
		return r
	}, s)), " ")
}

// readBusinessCard reads a business card: name, title, company, phone
// numbers, email and address. It is valid with a name and a phone or email.
func readBusinessCard(lines []Line) Result {
	fs := fieldSet{}
	var name Field
	nameRank := -1 // the tallest line wins, then Chinese over Latin, then the first
	for _, ln := range lines {
		t, c := tidyText(ln.Text), collapse(ln.Text)
		if t == "" {
			continue
		}
		if _, found := fs["email"]; !found {
			if e := emailPattern.FindString(t); e != "" {
				fs.ok("email", e, ln.Score)
			}
		}
		for _, p := range phonesIn(t) {
			switch _, found := fs["phone"]; {
			case !found:
				fs.ok("phone", p, ln.Score)
			case fs["phone2"].Value == "" && fs["phone"].Value != p:
				fs.ok("phone2", p, ln.Score)
			}
		}
		if strings.Contains(t, "@") || countDigits(t) > 5 {
			continue
		}
		if _, found := fs["company"]; !found && containsAny(t, companyWords) {
			fs.ok("company", c, ln.Score)
			continue
		}
		if v, title := personName(c); v != "" {
			rank := 0
			if hasBox(ln) {
				rank = 2 * boxRect(ln).Dy()
			}
			if hanName(v) {
				rank++
			}
			if rank > nameRank {
				name, nameRank = Field{Value: v, Confidence: ln.Score, Valid: true}, rank
			}
			if _, found := fs["title"]; !found && title != "" {
				fs.ok("title", title, ln.Score)
			}
			continue
		}
		if _, found := fs["title"]; !found && containsAny(t, titleWords) && utf8.RuneCountInString(c) <= 30 {
			fs.ok("title", c, ln.Score)
			continue
		}
		if _, found := fs["address"]; !found {
			if a, ok := addressIn(t); ok {
				fs.check("address", a, ln.Score, checkAddress(a))
			}
		}
	}
	if name.Valid {
		fs["name"] = name
	}
	if _, found := fs["phone"]; !found {
		if _, found := fs["email"]; !found {
			fs.bad("phone", "", 0, "not found, nor an email address")
		}
	}
	return fs.result("card", "name")
}

// personName recognizes a line that is a person's name, possibly followed by
// a title ("张三 总经理"): two to four Chinese characters, or two or three
// capitalized Latin words.
func personName(c string) (name, title string) {
	words := strings.Fields(c)
	if len(words) == 0 {
		return "", ""
	}
	if n := strings.Join(words, ""); hanName(n) {
		return n, ""
	}
	if len(words) > 1 && hanName(words[0]) {
		if rest := strings.Join(words[1:], " "); containsAny(rest, titleWords) {
			return words[0], rest
		}
	}
	if len(words) >= 2 && len(words) <= 3 && !containsAny(c, titleWords) && !containsAny(c, companyWords) {
		if checkLatinName(c) != nil {
			return "", ""
		}
		for _, w := range words {
			if w[0] < 'A' || w[0] > 'Z' {
				return "", ""
			}
		}
		return c, ""
	}
	return "", ""
}

// hanName reports a 2–4 character Chinese name that is not a title, a
// department or a label.
func hanName(s string) bool {
	n := utf8.RuneCountInString(s)
	if n < 2 || n > 4 || checkHanName(s) != nil || strings.Contains(s, "·") {
		return false
	}
	last, _ := utf8.DecodeLastRuneInString(s)
	return !strings.ContainsRune(notNameEnds, last) && !containsAny(s, titleWords) && !containsAny(s, notNameWords)
}

// addressIn returns the address on a line labelled 地址 or Add(ress), or a
// line that reads like one (a city or district and a road or number).
func addressIn(t string) (string, bool) {
	for _, l := range []string{"地址", "address", "add"} {
		if strings.HasPrefix(asciiLower(t), l) {
			return trimValue(t[len(l):]), true
		}
	}
	if strings.ContainsAny(t, "省市区县") && strings.ContainsAny(t, "路街道号楼") {
		return t, true
	}
	return "", false
}

// phonesIn returns the phone numbers on a line, normalized: a mobile as 11
// digits, a landline as area code, dash and number (010-12345678), a
// 400/800 number as 400-123-4567. Digit confusables are corrected only inside
// what is already a run of digits.
func phonesIn(t string) []string {
	var out []string
	rs := []rune(t)
	for i := 0; i < len(rs); {
		if !phoneStart(rs, i) {
			i++
			continue
		}
		j, conf := i+1, 0 // conf counts consecutive confusables
		for ; j < len(rs); j++ {
			if _, ok := digitLike(rs[j]); ok && !isDigit(rs[j]) {
				conf++
			} else {
				conf = 0
			}
			if conf > 3 || conf == 0 && !isDigit(rs[j]) && !strings.ContainsRune(" -()", rs[j]) {
				break
			}
		}
		if j < len(rs) && isAlnum(rs[j]) {
			for j > i+1 && !isDigit(rs[j-1]) {
				j-- // confusables that begin the next word ("13800138000Sales")
			}
		}
		groups := strings.Fields(string(rs[i:j]))
		for g := 0; g < len(groups); {
			took := false
			for h := min(len(groups), g+6); h > g; h-- { // a number is printed in at most six groups
				if p, ok := classifyPhone(strings.Join(groups[g:h], "")); ok {
					out = append(out, p)
					g, took = h, true
					break
				}
			}
			if !took {
				g++
			}
		}
		i = j
	}
	return out
}

// phoneStart reports whether a phone number may start at rs[i]: a digit, a
// '+' before a digit, or a confusable glyph between a non-letter and a digit.
func phoneStart(rs []rune, i int) bool {
	next := i+1 < len(rs) && isDigit(rs[i+1])
	switch {
	case isDigit(rs[i]):
		return true
	case rs[i] == '+':
		return next
	}
	_, conf := digitLike(rs[i])
	letterBefore := i > 0 && isAlnum(rs[i-1]) && !isDigit(rs[i-1])
	return conf && next && !letterBefore
}

// mobilePattern matches a mainland mobile number.
var mobilePattern = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// classifyPhone normalizes one printed phone number, or reports it is none.
func classifyPhone(s string) (string, bool) {
	s = fixDigits(s)
	parts := strings.FieldsFunc(s, func(r rune) bool { return !isDigit(r) })
	d := strings.Join(parts, "")
	if d == "" {
		return "", false
	}
	if strings.HasPrefix(s, "+") || strings.HasPrefix(d, "0086") || strings.HasPrefix(d, "86") && len(d) >= 12 {
		// +86, 0086: drop the country code, and restore the trunk 0 that an
		// international landline number drops (+86 10 1234 5678)
		d = strings.TrimPrefix(strings.TrimPrefix(d, "00"), "86")
		switch {
		case parts[0] == "86" || parts[0] == "0086":
			parts = parts[1:]
		default:
			parts[0] = strings.TrimPrefix(strings.TrimPrefix(parts[0], "00"), "86")
		}
		if d != "" && d[0] != '0' && !mobilePattern.MatchString(d) {
			d = "0" + d
			if len(parts) > 0 {
				parts[0] = "0" + parts[0]
			}
		}
	}
	switch {
	case mobilePattern.MatchString(d):
		return d, true
	case len(d) == 10 && (strings.HasPrefix(d, "400") || strings.HasPrefix(d, "800")):
		return d[:3] + "-" + d[3:6] + "-" + d[6:], true
	case len(d) < 10 || d[0] != '0':
		return "", false
	}
	area := 4
	if d[1] == '1' || d[1] == '2' {
		area = 3 // 010 and 020–029
	}
	if len(parts) >= 3 && parts[0] == d[:area] && len(parts[1]) >= 7 && len(parts[1]) <= 8 {
		d = parts[0] + parts[1] // drop an extension printed after the number
	}
	local := d[area:]
	if len(local) < 7 || len(local) > 8 || local[0] == '0' || local[0] == '1' {
		return "", false
	}
	return d[:area] + "-" + local, true
}

package ocr

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The business licence (营业执照) and the driving licence (机动车驾驶证):
// label-and-value documents whose numbers carry check characters (the unified
// social credit code, the holder's ID number).

// bizLayout labels a business licence. Fields whose names start with "_" are
// read only so that their text does not run into a neighbour's value.
var bizLayout = docLayout{
	labels: []fieldLabel{
		{field: "credit_code", names: []string{"统一社会信用代码"}},
		{field: "name", names: []string{"名称", "企业名称"}},
		{field: "_type", names: []string{"类型", "组成形式"}},
		{field: "legal_rep", names: []string{"法定代表人", "负责人", "经营者", "执行事务合伙人", "投资人"}},
		{field: "_capital", names: []string{"注册资本", "出资额", "出资数额"}, inline: true},
		{field: "established", names: []string{"成立日期", "注册日期"}, inline: true},
		{field: "_term", names: []string{"营业期限", "合伙期限", "经营期限"}, inline: true},
		{field: "address", names: []string{"住所", "经营场所", "营业场所", "主要经营场所"}, inline: true, multiline: true},
		{field: "_scope", names: []string{"经营范围"}, multiline: true},
		{field: "_authority", names: []string{"登记机关"}},
	},
	unlabelled: func(t string) string {
		if r := longestRun(t, isAlnum); utf8.RuneCountInString(r.text) == 18 && r.digits >= 6 {
			return "credit_code"
		}
		return ""
	},
}

// normalizeCreditCode upper-cases a read credit code and corrects what can
// only be a digit: O, I, S and Z are not in the alphabet, and characters 3–8
// (the region) must be digits.
func normalizeCreditCode(s string) string {
	rs := []rune(s)
	for i, r := range rs {
		switch r {
		case 'O', 'o':
			r = '0'
		case 'I', 'i', 'l', '|':
			r = '1'
		case 'Z', 'z':
			r = '2'
		case 'S', 's':
			r = '5'
		}
		if i >= 2 && i < 8 {
			if d, ok := digitLike(r); ok {
				r = d
			}
		}
		rs[i] = unicode.ToUpper(r)
	}
	return string(rs)
}

// readBizLicense reads a business licence.
func readBizLicense(lines []Line) Result {
	segs := bizLayout.segments(lines)
	fs := fieldSet{}
	if s, ok := first(segs, "credit_code"); ok {
		code := normalizeCreditCode(longestRun(s.value, isAlnum).text)
		fs.check("credit_code", code, s.score, checkCreditCode(code))
	}
	if s, ok := first(segs, "name"); ok {
		var err error
		if utf8.RuneCountInString(s.value) < 2 {
			err = errors.New("name too short")
		}
		fs.check("name", s.value, s.score, err)
	}
	if s, ok := first(segs, "legal_rep"); ok {
		fs.check("legal_rep", normalizeName(s.value), s.score, checkPersonOrFirm(normalizeName(s.value)))
	}
	if s, ok := first(segs, "address"); ok {
		fs.check("address", s.value, s.score, checkAddress(s.value))
	}
	if s, ok := first(segs, "established"); ok {
		v, _, err := readPastDate(s.value)
		fs.check("established", v, s.score, err)
	}
	return fs.result("bizlicense", "credit_code", "name", "legal_rep", "address", "established")
}

// checkPersonOrFirm checks a legal representative: a Chinese or Latin name,
// or a firm (a partnership's executive partner may be a company).
func checkPersonOrFirm(s string) error {
	for _, w := range []string{"公司", "企业", "合伙", "中心"} {
		if strings.Contains(s, w) {
			return nil
		}
	}
	if checkLatinName(s) == nil {
		return nil
	}
	return checkHanName(s)
}

// checkLatinName checks a name in Latin letters: two to four words of
// letters (with ' or -).
func checkLatinName(s string) error {
	words := strings.Fields(s)
	if len(words) < 2 || len(words) > 4 {
		return fmt.Errorf("name has %d Latin words, want 2 to 4", len(words))
	}
	for _, w := range words {
		for _, r := range w {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '\'' || r == '-') {
				return fmt.Errorf("name contains %q", r)
			}
		}
	}
	return nil
}

// drivingLayout labels the main page of a driving licence, in Chinese and
// English.
var drivingLayout = docLayout{
	labels: []fieldLabel{
		{field: "id_number", names: []string{"证号", "No."}},
		{field: "name", names: []string{"姓名", "Name"}},
		{field: "sex", names: []string{"性别", "Sex"}, inline: true},
		{field: "nationality", names: []string{"国籍", "Nationality"}, inline: true},
		{field: "address", names: []string{"住址", "Address"}, multiline: true},
		{field: "birth_date", names: []string{"出生日期", "Date of Birth"}},
		{field: "first_issue", names: []string{"初次领证日期", "Date of First Issue"}},
		{field: "class", names: []string{"准驾车型", "Class"}},
		{field: "validity", names: []string{"有效期限", "Valid Period"}},
		{field: "valid_start", names: []string{"有效起始日期", "Valid From"}},
	},
	unlabelled: idFrontLayout.unlabelled,
}

// readDrivingLicense reads the main page of a driving licence, checks its
// dates against each other and its birth date and sex against the ID number.
func readDrivingLicense(lines []Line) Result {
	segs := drivingLayout.segments(lines)
	fs := fieldSet{}
	if s, ok := first(segs, "id_number"); ok {
		readIDNumber(fs, s)
	}
	if s, ok := first(segs, "name"); ok {
		name := normalizeName(s.value)
		err := checkHanName(name)
		if err != nil && checkLatinName(name) == nil {
			err = nil
		}
		fs.check("name", name, s.score, err)
	}
	if s, ok := first(segs, "sex"); ok {
		if v := sexIn(s.value); v != "" {
			fs.ok("sex", v, s.score)
		} else {
			fs.bad("sex", s.value, s.score, "not 男 or 女")
		}
	}
	if s, ok := first(segs, "nationality"); ok {
		var err error
		if strings.ContainsFunc(s.value, func(r rune) bool { return !isHan(r) && !unicode.IsLetter(r) && r != ' ' }) {
			err = errors.New("nationality contains digits or symbols")
		}
		fs.check("nationality", s.value, s.score, err)
	}
	if s, ok := first(segs, "address"); ok {
		fs.check("address", s.value, s.score, checkAddress(s.value))
	}
	if s, ok := first(segs, "birth_date"); ok {
		v, _, err := readPastDate(s.value)
		fs.check("birth_date", v, s.score, err)
	}
	if s, ok := first(segs, "first_issue"); ok {
		v, _, err := readPastDate(s.value)
		fs.check("first_issue", v, s.score, err)
	}
	if s, ok := first(segs, "class"); ok {
		v, err := parseDrivingClass(s.value)
		fs.check("class", v, s.score, err)
	}
	readDrivingValidity(fs, segs)
	crossCheckID(fs)
	crossCheckDriving(fs)
	return fs.result("driving", "name", "sex", "nationality", "address", "birth_date",
		"first_issue", "class", "id_number", "valid_from", "valid_to")
}

// readDrivingValidity reads the validity, "2016-05-06至2026-05-06" on recent
// licences or a start date and "6年" on older ones. A licence is valid 6 or
// 10 years, or long-term (长期).
func readDrivingValidity(fs fieldSet, segs []textSegment) {
	s, ok := first(segs, "validity")
	start, hasStart := first(segs, "valid_start")
	if !ok && !hasStart {
		return
	}
	v := readValidity(s.value)
	score := s.score
	if hasStart && v.fromErr != nil {
		v.setFrom(start.value)
		if ok {
			score = min(score, start.score)
		} else {
			score = start.score
			v.toErr = errors.New("no end date")
		}
	}
	v.span(6, 10)
	fs.check("valid_from", v.from, score, v.fromErr)
	fs.check("valid_to", v.to, score, v.toErr)
}

// crossCheckDriving checks the licence's dates against each other: the first
// licence came at 16 or later, and the current period starts on or after it.
func crossCheckDriving(fs fieldSet) {
	if !fs.valid("first_issue") {
		return
	}
	first := fs["first_issue"].Value
	if fs.valid("birth_date") {
		b, _ := ParseChineseDate(fs["birth_date"].Value)
		if first < b.AddDate(16, 0, 0).Format(dateLayout) {
			fs.invalidate("first_issue", "before the holder's 16th birthday")
		}
	}
	if fs.valid("valid_from") && fs["valid_from"].Value < first {
		fs.invalidate("valid_from", "before the first issue date")
	}
}

// drivingClasses are the vehicle classes (准驾车型) of the 2012 rules.
var drivingClasses = map[string]bool{
	"A1": true, "A2": true, "A3": true, "B1": true, "B2": true,
	"C1": true, "C2": true, "C3": true, "C4": true, "C5": true, "C6": true,
	"D": true, "E": true, "F": true, "M": true, "N": true, "P": true,
}

// parseDrivingClass reads a class or a run of classes ("C1", "A2E", "C1D").
// After A, B or C only a digit may stand, so digit confusables are corrected
// there ("Cl" is C1).
func parseDrivingClass(s string) (string, error) {
	rs := []rune(s)
	var out strings.Builder
	for i := 0; i < len(rs); i++ {
		r := unicode.ToUpper(rs[i])
		switch {
		case r == ' ' || r == ',' || r == '/' || r == '、':
			continue
		case r == 'A' || r == 'B' || r == 'C':
			if i+1 == len(rs) {
				return s, fmt.Errorf("class %c needs a digit", r)
			}
			d, ok := digitLike(rs[i+1])
			code := string(r) + string(d)
			if !ok || !drivingClasses[code] {
				return s, fmt.Errorf("unknown class %c%c", r, rs[i+1])
			}
			out.WriteString(code)
			i++
		case drivingClasses[string(r)]:
			out.WriteRune(r)
		default:
			return s, fmt.Errorf("unknown class %q", rs[i])
		}
	}
	if out.Len() == 0 {
		return s, errors.New("no class")
	}
	return out.String(), nil
}

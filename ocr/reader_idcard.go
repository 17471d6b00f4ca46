package ocr

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The Chinese resident ID card (居民身份证): the front carries the holder, the
// back the issuing authority and validity. The ID number's check character,
// region and embedded birth date and sex are what catch a misread front.

// idFrontLayout labels the front of the ID card.
var idFrontLayout = docLayout{
	labels: []fieldLabel{
		{field: "name", names: []string{"姓名"}},
		{field: "sex", names: []string{"性别"}, inline: true},
		{field: "ethnicity", names: []string{"民族"}, inline: true},
		{field: "birth_date", names: []string{"出生"}},
		{field: "address", names: []string{"住址"}, multiline: true},
		{field: "id_number", names: []string{"公民身份号码", "公民身份号", "身份号码"}},
	},
	unlabelled: func(t string) string {
		if _, ok := idRun(t); ok {
			return "id_number"
		}
		return ""
	},
}

// idBackLayout labels the back of the ID card.
var idBackLayout = docLayout{
	labels: []fieldLabel{
		{field: "issuing_authority", names: []string{"签发机关"}, multiline: true},
		{field: "validity", names: []string{"有效期限"}},
	},
}

// idChar accepts what may stand in an ID number as read: digits, their
// confusables, and X (also as x or ×) for the check character.
func idChar(r rune) bool {
	_, ok := digitLike(r)
	return ok || r == 'X' || r == 'x' || r == '×'
}

// idRun finds an ID number in a line without its label: a run of 15 or more
// ID characters, at least 14 of them real digits (so words are not taken).
func idRun(t string) (run, bool) {
	r := longestRun(t, idChar)
	return r, utf8.RuneCountInString(r.text) >= 15 && r.digits >= 14
}

// normalizeIDNumber corrects a read ID number: confusables become digits, and
// x or × at the end becomes X. Anything else is left to fail validation.
func normalizeIDNumber(s string) string {
	rs := []rune(s)
	for i, r := range rs {
		if i == len(rs)-1 && (r == 'x' || r == '×') {
			rs[i] = 'X'
		} else if d, ok := digitLike(r); ok {
			rs[i] = d
		}
	}
	return string(rs)
}

// readIDNumber reads the ID number from a segment's text and validates it.
func readIDNumber(fs fieldSet, seg textSegment) {
	id := normalizeIDNumber(longestRun(seg.value, idChar).text)
	if id == "" {
		fs.bad("id_number", seg.value, seg.score, "no ID number in the text")
		return
	}
	_, _, err := IDNumberInfo(id)
	fs.check("id_number", id, seg.score, err)
}

// readIDCard reads either side of an ID card, deciding which from the labels.
func readIDCard(lines []Line) Result {
	front, back := 0, 0
	for _, ln := range lines {
		t := tidyText(ln.Text)
		for _, l := range []string{"姓名", "性别", "民族", "出生", "住址", "公民身份"} {
			if strings.Contains(t, l) {
				front++
			}
		}
		if _, ok := idRun(t); ok {
			front += 2
		}
		for _, l := range []string{"签发机关", "有效期限", "居民身份证", "中华人民共和国"} {
			if strings.Contains(t, l) {
				back++
			}
		}
	}
	if back > front {
		return readIDBack(lines)
	}
	return readIDFront(lines)
}

// readIDFront reads the front of an ID card and checks the printed birth
// date and sex against the ID number.
func readIDFront(lines []Line) Result {
	segs := idFrontLayout.segments(lines)
	fs := fieldSet{}

	if s, ok := first(segs, "name"); ok {
		fs.check("name", normalizeName(s.value), s.score, checkHanName(normalizeName(s.value)))
	}

	// Sex and ethnicity have closed sets of values, so a value that lost its
	// label (or landed under the other one) is still recognized.
	var sexSeg, ethSeg textSegment
	for _, s := range segs {
		switch {
		case s.field == "sex" && sexSeg.value == "" && s.value != "":
			sexSeg = s
			if v := sexIn(s.value); v != "" {
				sexSeg.value = v
			}
		case s.field == "ethnicity" && ethSeg.value == "" && s.value != "":
			ethSeg = s
		}
	}
	for _, s := range segs {
		if s.field != "" && s.field != "sex" && s.field != "ethnicity" {
			continue
		}
		if (s.value == "男" || s.value == "女") && sexIn(sexSeg.value) == "" {
			sexSeg = s
		}
		if e := ethnicity(s.value); e != "" && ethnicity(ethSeg.value) == "" && s.field != "sex" {
			ethSeg = s
		}
	}
	if sexSeg.value != "" {
		if v := sexIn(sexSeg.value); v != "" {
			fs.ok("sex", v, sexSeg.score)
		} else {
			fs.bad("sex", sexSeg.value, sexSeg.score, "not 男 or 女")
		}
	}
	if ethSeg.value != "" {
		if e := ethnicity(ethSeg.value); e != "" {
			fs.ok("ethnicity", e, ethSeg.score)
		} else {
			fs.bad("ethnicity", ethSeg.value, ethSeg.score, "not one of the recognised ethnic groups")
		}
	}

	if s, ok := first(segs, "birth_date"); ok {
		v, _, err := readPastDate(s.value)
		fs.check("birth_date", v, s.score, err)
	}
	if s, ok := first(segs, "address"); ok {
		fs.check("address", s.value, s.score, checkAddress(s.value))
	}
	if s, ok := first(segs, "id_number"); ok {
		readIDNumber(fs, s)
	} else {
		for _, ln := range lines {
			if r, ok := idRun(tidyText(ln.Text)); ok {
				readIDNumber(fs, textSegment{value: r.text, score: ln.Score})
				break
			}
		}
	}
	crossCheckID(fs)
	return fs.result("idcard-front", "name", "sex", "ethnicity", "birth_date", "address", "id_number")
}

// crossCheckID marks the printed birth date and sex invalid when they
// disagree with a valid ID number: one of the two reads is wrong, and the
// checksum makes the number the one to believe.
func crossCheckID(fs fieldSet) {
	if !fs.valid("id_number") {
		return
	}
	birth, male, _ := IDNumberInfo(fs["id_number"].Value)
	if f := fs["birth_date"]; f.Valid && f.Value != birth.Format(dateLayout) {
		fs.invalidate("birth_date", "does not match the birth date in the ID number")
	}
	want := map[bool]string{true: "男", false: "女"}[male]
	if f := fs["sex"]; f.Valid && f.Value != want {
		fs.invalidate("sex", "does not match the sex in the ID number (17th digit)")
	}
}

// yearRun finds where a date (a year and a separator) starts in a line.
var yearRun = regexp.MustCompile(`[0-9OoIlZSB]{4}[.\-/年]`)

// readIDBack reads the back of an ID card: the issuing authority and a
// validity of 5, 10 or 20 years, or long-term (长期).
func readIDBack(lines []Line) Result {
	segs := idBackLayout.segments(lines)
	fs := fieldSet{}
	validity, haveValidity := first(segs, "validity")
	if s, ok := first(segs, "issuing_authority"); ok {
		// When the 有效期限 label is lost, the authority runs on into the
		// validity line: split it off at the first year-like run.
		if loc := yearRun.FindStringIndex(s.value); loc != nil {
			if !haveValidity {
				validity, haveValidity = textSegment{field: "validity", value: s.value[loc[0]:], score: s.score}, true
			}
			s.value = strings.TrimSpace(s.value[:loc[0]])
		}
		var err error
		if !strings.Contains(s.value, "公安") && !strings.Contains(s.value, "出入境") {
			err = errors.New("not a public security authority (公安)")
		}
		fs.check("issuing_authority", s.value, s.score, err)
	}
	if haveValidity {
		v := readValidity(validity.value)
		v.span(5, 10, 20)
		fs.check("valid_from", v.from, validity.score, v.fromErr)
		fs.check("valid_to", v.to, validity.score, v.toErr)
	}
	return fs.result("idcard-back", "issuing_authority", "valid_from", "valid_to")
}

// sexIn returns 男 or 女 when exactly one of them is in s.
func sexIn(s string) string {
	m, f := strings.Contains(s, "男"), strings.Contains(s, "女")
	switch {
	case m && !f:
		return "男"
	case f && !m:
		return "女"
	}
	return ""
}

// ethnicGroups are the 56 recognised ethnic groups as printed on ID cards
// (without 族), and 穿青人, printed on some cards from Guizhou.
var ethnicGroups = strings.Fields(`汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎
	傈僳 佤 畲 高山 拉祜 水 东乡 纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克
	怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺 穿青人`)

// ethnicity returns the ethnic group s names (汉, 汉族, …), or "".
func ethnicity(s string) string {
	s = strings.TrimSuffix(s, "族")
	for _, e := range ethnicGroups {
		if s == e {
			return e
		}
	}
	return ""
}

// normalizeName turns the dots OCR reads in minority names (买买提·艾力)
// into the middle dot.
func normalizeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '•', '・', '･', '∙', '⋅':
			return '·'
		}
		return r
	}, s)
}

// checkHanName checks a name printed in Chinese: 2 to 20 Han characters,
// with single middle dots between parts.
func checkHanName(s string) error {
	n := utf8.RuneCountInString(s)
	if n < 2 || n > 20 {
		return fmt.Errorf("name has %d characters, want 2 to 20", n)
	}
	if strings.HasPrefix(s, "·") || strings.HasSuffix(s, "·") || strings.Contains(s, "··") {
		return errors.New("misplaced · in name")
	}
	for _, r := range s {
		if !isHan(r) && r != '·' {
			return fmt.Errorf("name contains %q, want Chinese characters", r)
		}
	}
	return nil
}

// checkAddress checks an address: at least four characters, mostly Chinese
// or alphanumeric, with no stray symbols from a misread.
func checkAddress(s string) error {
	n := utf8.RuneCountInString(s)
	if n < 4 {
		return fmt.Errorf("address has %d characters, too short", n)
	}
	odd := 0
	for _, r := range s {
		if !isHan(r) && !isAlnum(r) && !strings.ContainsRune("-()（）·#、,. ", r) {
			odd++
		}
	}
	if odd*5 > n {
		return errors.New("address is mostly symbols")
	}
	return nil
}

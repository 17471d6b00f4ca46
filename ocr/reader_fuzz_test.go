package ocr

import (
	"fmt"
	"image"
	"regexp"
	"strings"
	"testing"
)

func FuzzParseChineseDate(f *testing.F) {
	for _, s := range []string{"1990年1月2日", "1990.01.02", "1990-01-02", "19900102", "1990/1/2", "2000-02-29",
		"1990-02-30", "１９９０年１月２日", " 1990 . 1 . 2 ", "9999-12-31", "0000-01-01", "1990年1月2日日"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseChineseDate(s)
		if err != nil {
			return
		}
		if d.Hour() != 0 || d.Location().String() != "UTC" || d.Year() < 1 || d.Year() > 9999 {
			t.Fatalf("ParseChineseDate(%q) = %v", s, d)
		}
		again, err := ParseChineseDate(d.Format(dateLayout))
		if err != nil || !again.Equal(d) {
			t.Fatalf("ParseChineseDate(%q) = %v, which does not parse back: %v, %v", s, d, again, err)
		}
		if compact, err := ParseChineseDate(d.Format("20060102")); err != nil || !compact.Equal(d) {
			t.Fatalf("compact form of %v: %v, %v", d, compact, err)
		}
	})
}

func FuzzValidIDNumber(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "11010519491231002x", "110105199001020016", "110105199001020018",
		"11010519900230002X", "", "1", "99010519491231002X", "110105190001010010", "11010519491231002X1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid := ValidIDNumber(s)
		birth, male, err := IDNumberInfo(s)
		if valid != (err == nil) {
			t.Fatalf("ValidIDNumber(%q) = %v but IDNumberInfo error %v", s, valid, err)
		}
		if !valid {
			return
		}
		if want := idCheckChar(s); strings.ToUpper(s[17:]) != string(want) {
			t.Fatalf("%q valid but the check character should be %c", s, want)
		}
		if birth.Format("20060102") != s[6:14] || male != ((s[16]-'0')%2 == 1) || !validProvince(s) {
			t.Fatalf("IDNumberInfo(%q) = %v, %v", s, birth, male)
		}
		if birth.Year() < 1900 || birth.After(today()) {
			t.Fatalf("%q valid with birth date %v", s, birth)
		}
	})
}

// fuzzSeeds are documents of each kind, as lines joined by newlines.
var fuzzSeeds = map[string][]string{
	"idcard": {
		"姓名张三\n性别男民族汉\n出生1990年1月2日\n住址北京市朝阳区建国路88号院\n3号楼\n公民身份号码110105199001020016",
		"姓 名\n张 三\n性别\n民族\n男\n汉\n出生 1990 年 1 月 2 日\n11O1O519491231OO2x",
		"中华人民共和国\n居民身份证\n签发机关北京市公安局朝阳分局\n有效期限2016.01.01-2036.01.01",
		"签发机关\n某公安局\n有效期限\n2016.02.29-长期",
	},
	"bankcard": {
		"中国工商银行\n6222 0212 3456 7890 128\nVALID THRU 12/28\nZHANG SAN",
		"4111111111111111\nGOOD THRU\nO8/27",
		"VALID FROM 01/20 VALID THRU 13/30\n6222 0212\n3456 7890",
	},
	"bizlicense": {
		"营业执照\n统一社会信用代码\n91350100M000100Y43\n名称 福建某某科技有限公司\n法定代表人 张三\n成立日期 2015年01月01日\n住所 福建省福州市鼓楼区\n五四路1号",
		"统一社会信用代码9135O1OOM000100Y43\n名称X 注册资本1\n类型 成立日期2015年O1月O1日\n经营者李四 住所某地",
	},
	"plate":   {"京A·12345", "粤B 1Z3O5 D", "京A\n12345", "粤Z·1A23港", "使014578", "京A·123456"},
	"driving": {"证号 110105199001020016\n姓名 Name 张三 性别 Sex 男 国籍 Nationality 中国\n住址 北京市\n出生日期 1990-01-02\n初次领证日期 2010-05-06\n准驾车型 Cl\n有效期限 2016-05-06至2026-05-06", "有效起始日期2010-05-06\n有效期限6年"},
	"card":    {"北京某某科技有限公司\n张 三\n销售总监\n手机：138 0013 8000\n电话：010-6512 3456\n邮箱：zhangsan@example.com", "John Smith\nTel: +86 21 6888 8888\nM:1380O138OOO"},
	"text":    {"任意文字"},
}

func FuzzReadFields(f *testing.F) {
	for i, kind := range Kinds {
		for _, s := range fuzzSeeds[kind] {
			f.Add(uint8(i), false, s)
			f.Add(uint8(i), true, s)
		}
	}
	// found by fuzzing: an end date marked valid when the start was not
	f.Add(uint8(4), false, "110105199001020016\n姓名 %B08张\xe4&\nz\x88\x9dB\xac\xa1\xe9z\x86Y*Aa5%C\xbd\xa6x\x9e\x8b!\"\n有效期限7000.00.000000001.01.01")
	f.Fuzz(func(t *testing.T, k uint8, boxes bool, data string) {
		kind := Kinds[int(k)%len(Kinds)]
		var lines []Line
		for i, text := range strings.Split(data, "\n") {
			ln := Line{Text: text, Score: float32(len(text)%10) / 10}
			if boxes {
				// rows 40 px apart, some lines sharing a row, widths from the text
				x, y := (i%3)*150, (i/2)*40+i%2*5
				ln.Box = [4]image.Point{{x, y}, {x + 20*len(text), y}, {x + 20*len(text), y + 30}, {x, y + 30}}
			}
			lines = append(lines, ln)
		}
		r, err := ReadFields(kind, lines)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.Kind, kind) || len(r.Lines) != len(lines) || r.Fields == nil {
			t.Fatalf("ReadFields(%s) = kind %q, %d lines", kind, r.Kind, len(r.Lines))
		}
		allValid := true
		for name, fl := range r.Fields {
			allValid = allValid && fl.Valid
			if !fl.Valid {
				if fl.Reason == "" {
					t.Errorf("%s: invalid field %s without a reason", kind, name)
				}
				continue
			}
			if fl.Reason != "" || fl.Confidence < 0 || fl.Confidence > 1 {
				t.Errorf("%s: field %s = %+v", kind, name, fl)
			}
			if err := revalidate(r, name, fl.Value); err != nil {
				t.Errorf("%s: field %s = %q marked valid: %v", r.Kind, name, fl.Value, err)
			}
		}
		if r.Valid && !allValid {
			t.Errorf("%s: Valid with an invalid field: %+v", kind, r.Fields)
		}
	})
}

var (
	phoneValue  = regexp.MustCompile(`^(?:1[3-9][0-9]{9}|0[0-9]{2,3}-[2-9][0-9]{6,7}|[48]00-[0-9]{3}-[0-9]{4})$`)
	expiryValue = regexp.MustCompile(`^(?:0[1-9]|1[0-2])/[0-9]{2}$`)
)

// revalidate checks a field marked valid against its validator alone.
func revalidate(r Result, name, v string) error {
	date := func() error {
		d, err := ParseChineseDate(v)
		if err == nil && d.Format(dateLayout) != v {
			err = fmt.Errorf("not YYYY-MM-DD")
		}
		return err
	}
	var ok bool
	switch name {
	case "id_number":
		ok = ValidIDNumber(v) && !strings.HasSuffix(v, "x")
	case "card_number":
		ok = len(v) >= 13 && len(v) <= 19 && ValidLuhn(v)
	case "network":
		ok = cardNetwork(r.Fields["card_number"].Value) == v
	case "credit_code":
		ok = ValidCreditCode(v)
	case "plate":
		ok = ValidPlate(v)
	case "type":
		ok = plateKind(r.Fields["plate"].Value) == v
	case "birth_date", "established", "first_issue":
		if err := date(); err != nil {
			return err
		}
		d, _ := ParseChineseDate(v)
		return plausiblePast(d)
	case "valid_from":
		return date()
	case "valid_to":
		if v == longTerm {
			return nil
		}
		if err := date(); err != nil {
			return err
		}
		ok = v > r.Fields["valid_from"].Value
	case "sex":
		ok = v == "男" || v == "女"
	case "ethnicity":
		ok = ethnicity(v) == v
	case "expiry":
		ok = expiryValue.MatchString(v)
	case "phone", "phone2":
		ok = phoneValue.MatchString(v)
	case "email":
		ok = emailPattern.FindString(v) == v
	case "class":
		c, err := parseDrivingClass(v)
		ok = err == nil && c == v
	case "name":
		switch r.Kind {
		case "idcard-front":
			return checkHanName(v)
		case "card":
			_, title := personName(v)
			ok = hanName(v) || checkLatinName(v) == nil && title == ""
		default:
			ok = v != ""
		}
	default:
		ok = strings.TrimSpace(v) != ""
	}
	if !ok {
		return fmt.Errorf("fails its check")
	}
	return nil
}

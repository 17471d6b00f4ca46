package ocr

import (
	"encoding/json"
	"errors"
	"image"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// textLines makes OCR lines without boxes, as a test would type them.
func textLines(texts ...string) []Line {
	out := make([]Line, len(texts))
	for i, t := range texts {
		out[i] = Line{Text: t, Score: 0.9 + float32(i%5)/100}
	}
	return out
}

// boxLine makes an OCR line with a box at x, y of size w×h.
func boxLine(text string, x, y, w, h int) Line {
	return Line{Text: text, Score: 0.95, Box: [4]image.Point{{x, y}, {x + w, y}, {x + w, y + h}, {x, y + h}}}
}

// readerCase is one document read: the lines, the result kind, the valid
// fields (name → value) and the invalid ones (name → value, "" for any).
type readerCase struct {
	name    string
	kind    string
	lines   []Line
	resKind string
	valid   bool
	good    map[string]string
	bad     map[string]string
}

func (c readerCase) run(t *testing.T) {
	t.Helper()
	r, err := ReadFields(c.kind, c.lines)
	if err != nil {
		t.Fatalf("ReadFields: %v", err)
	}
	if c.resKind != "" && r.Kind != c.resKind {
		t.Errorf("Kind = %q, want %q", r.Kind, c.resKind)
	}
	for name, v := range c.good {
		f, ok := r.Fields[name]
		if !ok || !f.Valid || f.Value != v || f.Confidence <= 0 {
			t.Errorf("field %s = %+v, want valid %q", name, f, v)
		}
	}
	for name, v := range c.bad {
		f, ok := r.Fields[name]
		if !ok || f.Valid || f.Reason == "" || v != "" && f.Value != v {
			t.Errorf("field %s = %+v, want invalid %q with a reason", name, f, v)
		}
	}
	for name, f := range r.Fields {
		_, good := c.good[name]
		_, bad := c.bad[name]
		if !good && !bad {
			t.Errorf("unexpected field %s: %+v", name, f)
		}
	}
	if r.Valid != c.valid {
		t.Errorf("Valid = %v, want %v; fields %+v", r.Valid, c.valid, r.Fields)
	}
	if len(r.Lines) != len(c.lines) {
		t.Errorf("Lines has %d lines, want %d", len(r.Lines), len(c.lines))
	}
}

// A man born 2 January 1990 and a woman born 31 December 1949.
const (
	testIDMale   = "110105199001020016"
	testIDFemale = "11010519491231002X"
)

func TestReaderIDCardFront(t *testing.T) {
	fixedNow(t, "2025-06-15")
	if !ValidIDNumber(testIDMale) || !ValidIDNumber(testIDFemale) {
		t.Fatal("test ID numbers are not valid")
	}
	full := map[string]string{
		"name": "张三", "sex": "男", "ethnicity": "汉", "birth_date": "1990-01-02",
		"address": "北京市朝阳区建国路88号院3号楼2单元101室", "id_number": testIDMale,
	}
	without := func(m map[string]string, drop ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for _, k := range drop {
			delete(out, k)
		}
		return out
	}
	tests := []readerCase{
		{
			name: "labels glued to values",
			lines: textLines("姓名张三", "性别男民族汉", "出生1990年1月2日", "住址北京市朝阳区建国路88号院",
				"3号楼2单元101室", "公民身份号码"+testIDMale),
			valid: true, good: full,
		},
		{
			name: "labels split from values, spaces everywhere",
			lines: textLines("姓 名", "张 三", "性 别", "男", "民 族", "汉", "出 生", "1990 年 1 月 2 日", "住 址",
				"北京市朝阳区建国路 88 号院", "3 号楼 2 单元 101 室", "公民身份号码", "1101 0519 9001 0200 16"),
			valid: true, good: full,
		},
		{
			name: "row read right to left, both labels before both values",
			lines: textLines("姓名：张三", "民族汉", "性别男", "出生1990年1月2日", "住址北京市朝阳区建国路88号院3号楼2单元101室",
				"公民身份号码 "+testIDMale),
			valid: true, good: full,
		},
		{
			name: "labels then values in one row",
			lines: textLines("姓名张三", "性别", "民族", "男", "汉", "出生1990年1月2日", "住址北京市朝阳区建国路88号院3号楼2单元101室",
				testIDMale),
			valid: true, good: full,
		},
		{
			name: "row out of order, fixed by boxes",
			lines: []Line{
				boxLine("姓名张三", 100, 100, 200, 40),
				boxLine("男", 200, 160, 30, 40), boxLine("性别", 100, 162, 80, 38),
				boxLine("民族汉", 300, 160, 120, 40),
				boxLine("出生1990年1月2日", 100, 220, 300, 40),
				boxLine("住址北京市朝阳区建国路88号院", 100, 280, 400, 40),
				boxLine("3号楼2单元101室", 180, 325, 300, 40),
				boxLine("公民身份号码"+testIDMale, 100, 450, 600, 40),
			},
			valid: true, good: full,
		},
		{
			name: "confusable glyphs in digit fields only",
			lines: textLines("姓名王小S", "性别女民族回", "出生l949年l2月3l日", "住址北京市朝阳区B座O层",
				"公民身份号码 11O1O5l9491231OO2x"),
			good: map[string]string{"sex": "女", "ethnicity": "回", "birth_date": "1949-12-31",
				"address": "北京市朝阳区B座O层", "id_number": testIDFemale},
			bad: map[string]string{"name": "王小S"},
		},
		{
			name:  "minority name with a dot, number without label, x as ×",
			lines: textLines("姓名买买提.艾力", "性别女", "民族维吾尔", "出生1949年12月31日", "住址新疆乌鲁木齐市天山区", "11010519491231002×"),
			valid: true,
			good: map[string]string{"name": "买买提·艾力", "sex": "女", "ethnicity": "维吾尔", "birth_date": "1949-12-31",
				"address": "新疆乌鲁木齐市天山区", "id_number": testIDFemale},
		},
		{
			name: "bad checksum",
			lines: textLines("姓名张三", "性别男民族汉", "出生1990年1月2日", "住址北京市朝阳区建国路88号院3号楼2单元101室",
				"公民身份号码110105199001020018"),
			good: without(full, "id_number"),
			bad:  map[string]string{"id_number": "110105199001020018"},
		},
		{
			name: "printed birth date disagrees with the number",
			lines: textLines("姓名张三", "性别男民族汉", "出生1990年1月8日", "住址北京市朝阳区建国路88号院3号楼2单元101室",
				"公民身份号码"+testIDMale),
			good: without(full, "birth_date"),
			bad:  map[string]string{"birth_date": "1990-01-08"},
		},
		{
			name: "printed sex disagrees with the number",
			lines: textLines("姓名张三", "性别女民族汉", "出生1990年1月2日", "住址北京市朝阳区建国路88号院3号楼2单元101室",
				"公民身份号码"+testIDMale),
			good: without(full, "sex"),
			bad:  map[string]string{"sex": "女"},
		},
		{
			name: "unknown ethnicity, impossible date",
			lines: textLines("姓名张三", "性别男民族火星", "出生1990年2月30日", "住址北京市朝阳区建国路88号院3号楼2单元101室",
				"公民身份号码"+testIDMale),
			good: without(full, "ethnicity", "birth_date"),
			bad:  map[string]string{"ethnicity": "火星", "birth_date": ""},
		},
		{
			name:  "number too short",
			lines: textLines("姓名张三", "公民身份号码1101051990010200"),
			good:  map[string]string{"name": "张三"},
			bad: map[string]string{"id_number": "1101051990010200", "sex": "", "ethnicity": "", "birth_date": "",
				"address": ""},
		},
		{
			name:  "nothing",
			lines: nil,
			bad: map[string]string{"name": "", "sex": "", "ethnicity": "", "birth_date": "", "address": "",
				"id_number": ""},
		},
	}
	for _, tt := range tests {
		tt.kind, tt.resKind = "idcard", "idcard-front"
		t.Run(tt.name, tt.run)
	}
}

func TestReaderIDCardBack(t *testing.T) {
	fixedNow(t, "2025-06-15")
	back := func(validity string) []Line {
		return textLines("中华人民共和国", "居民身份证", "签发机关北京市公安局朝阳分局", "有效期限"+validity)
	}
	authority := "北京市公安局朝阳分局"
	tests := []readerCase{
		{name: "20 years", lines: back("2016.01.01-2036.01.01"), valid: true,
			good: map[string]string{"issuing_authority": authority, "valid_from": "2016-01-01", "valid_to": "2036-01-01"}},
		{name: "long term", lines: back("2016.01.01-长期"), valid: true,
			good: map[string]string{"issuing_authority": authority, "valid_from": "2016-01-01", "valid_to": "长期"}},
		{name: "split labels, spaces, confusables",
			lines: textLines("签发机关", "北京市公安局朝阳分局", "有 效 期 限", "2O15.O3.O8 - 2O25.O3.O8"), valid: true,
			good: map[string]string{"issuing_authority": authority, "valid_from": "2015-03-08", "valid_to": "2025-03-08"}},
		{name: "5 years from 29 February", lines: back("2016.02.29-2021.02.28"), valid: true,
			good: map[string]string{"issuing_authority": authority, "valid_from": "2016-02-29", "valid_to": "2021-02-28"}},
		{name: "14 years", lines: back("2016.01.01-2030.01.01"),
			good: map[string]string{"issuing_authority": authority, "valid_from": "2016-01-01"},
			bad:  map[string]string{"valid_to": "2030-01-01"}},
		{name: "a day off", lines: back("2016.01.01-2036.01.02"),
			good: map[string]string{"issuing_authority": authority, "valid_from": "2016-01-01"},
			bad:  map[string]string{"valid_to": "2036-01-02"}},
		{name: "end before start", lines: back("2016.01.01-2006.01.01"),
			good: map[string]string{"issuing_authority": authority, "valid_from": "2016-01-01"},
			bad:  map[string]string{"valid_to": "2006-01-01"}},
		{name: "impossible date", lines: back("2016.02.30-2036.02.30"),
			good: map[string]string{"issuing_authority": authority},
			bad:  map[string]string{"valid_from": "", "valid_to": ""}},
		{name: "issued in the future", lines: back("2026.01.01-2046.01.01"),
			good: map[string]string{"issuing_authority": authority},
			bad:  map[string]string{"valid_from": "2026-01-01", "valid_to": "2046-01-01"}},
		{name: "not a police authority", lines: textLines("签发机关北京市朝阳区", "有效期限2016.01.01-2036.01.01"),
			good: map[string]string{"valid_from": "2016-01-01", "valid_to": "2036-01-01"},
			bad:  map[string]string{"issuing_authority": "北京市朝阳区"}},
	}
	for _, tt := range tests {
		tt.kind, tt.resKind = "idcard", "idcard-back"
		t.Run(tt.name, tt.run)
	}
}

// groups prints a card number in groups of four.
func groups(n string) string {
	var parts []string
	for len(n) > 4 {
		parts, n = append(parts, n[:4]), n[4:]
	}
	return strings.Join(append(parts, n), " ")
}

func TestReaderBankCard(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	c16, c19 := randomCard(rng, 16), randomCard(rng, 19)
	bad16 := c16[:15] + string('0'+(c16[15]-'0'+1)%10)
	confused := strings.Replace(groups(c19), "0", "O", 1)
	if !strings.Contains(confused, "O") {
		confused = strings.Replace(groups(c19), "1", "l", 1)
	}
	tests := []readerCase{
		{name: "16 digits, expiry", lines: textLines("中国工商银行", "ICBC", groups(c16), "VALID THRU 12/28", "ZHANG SAN", "银联 UnionPay"),
			valid: true, good: map[string]string{"card_number": c16, "expiry": "12/28", "network": "unionpay", "bank": "中国工商银行"}},
		{name: "19 digits with a confusable, no expiry", lines: textLines("招商银行", confused),
			valid: true, good: map[string]string{"card_number": c19, "network": "unionpay", "bank": "招商银行"}},
		{name: "number broken over two lines", lines: textLines("Bank of China", groups(c16)[:9], groups(c16)[10:], "VALID FROM 01/20 VALID THRU 01/30"),
			valid: true, good: map[string]string{"card_number": c16, "expiry": "01/30", "network": "unionpay", "bank": "Bank of China"}},
		{name: "number and expiry on one line", lines: textLines(groups(c16) + " 09/2029"),
			valid: true, good: map[string]string{"card_number": c16, "expiry": "09/29", "network": "unionpay"}},
		{name: "visa without spaces, expiry on the next line", lines: textLines("4111111111111111", "GOOD THRU", "O8/27"),
			valid: true, good: map[string]string{"card_number": "4111111111111111", "expiry": "08/27", "network": "visa"}},
		{name: "Luhn fails", lines: textLines(groups(bad16), "12/28"),
			good: map[string]string{"expiry": "12/28"}, bad: map[string]string{"card_number": bad16}},
		{name: "month 13", lines: textLines(groups(c16), "VALID THRU 13/28"),
			good: map[string]string{"card_number": c16, "network": "unionpay"}, bad: map[string]string{"expiry": "13/28"}},
		{name: "no number", lines: textLines("中国银行", "ZHANG SAN", "1234 5678"),
			good: map[string]string{"bank": "中国银行"}, bad: map[string]string{"card_number": ""}},
	}
	for _, tt := range tests {
		tt.kind, tt.resKind = "bankcard", "bankcard"
		t.Run(tt.name, tt.run)
	}
}

func TestReaderBizLicense(t *testing.T) {
	fixedNow(t, "2025-06-15")
	const code = "91350100M000100Y43"
	good := map[string]string{"credit_code": code, "name": "福建某某科技有限公司", "legal_rep": "张三",
		"address": "福建省福州市鼓楼区五四路1号", "established": "2015-01-01"}
	tests := []readerCase{
		{
			name: "one label per line",
			lines: textLines("营业执照", "（副本）", "统一社会信用代码", code, "名 称 福建某某科技有限公司",
				"类 型 有限责任公司（自然人投资或控股）", "法定代表人 张三", "经营范围 软件开发；信息技术咨询服务。",
				"（依法须经批准的项目，经相关部门批准后方可开展经营活动）", "注册资本 壹仟万圆整", "成立日期 2015年01月01日",
				"营业期限 2015年01月01日至长期", "住 所 福建省福州市鼓楼区", "五四路1号", "登记机关"),
			valid: true, good: good,
		},
		{
			name: "two columns merged into rows, confusables in the code",
			lines: textLines("统一社会信用代码9135O1OOM000100Y43", "名称福建某某科技有限公司 注册资本壹仟万圆整",
				"类型有限责任公司 成立日期2015年O1月O1日", "法定代表人张三 营业期限2015年01月01日至长期",
				"经营范围软件开发 住所福建省福州市鼓楼区五四路1号"),
			valid: true, good: good,
		},
		{
			name: "address wraps beside the scope column (boxes)",
			lines: []Line{
				boxLine("统一社会信用代码 "+code, 100, 50, 600, 30),
				boxLine("名称 福建某某科技有限公司", 100, 100, 400, 30),
				boxLine("法定代表人 张三", 100, 150, 300, 30),
				boxLine("成立日期 2015年01月01日", 600, 150, 300, 30),
				boxLine("住所 福建省福州市鼓楼区", 600, 200, 300, 30),
				boxLine("经营范围 软件开发；信息技术", 100, 205, 400, 30),
				boxLine("五四路1号", 660, 240, 150, 30),
				boxLine("咨询服务。", 150, 245, 300, 30),
			},
			valid: true, good: good,
		},
		{
			name:  "individual business, bad check character",
			lines: textLines("统一社会信用代码 92350100MA2XYZ1234", "名称 福州某某小吃店", "经营者 李四", "经营场所 福州市台江区某路2号", "注册日期 2019年5月6日"),
			good: map[string]string{"name": "福州某某小吃店", "legal_rep": "李四", "address": "福州市台江区某路2号",
				"established": "2019-05-06"},
			bad: map[string]string{"credit_code": "92350100MA2XY21234"},
		},
		{
			name:  "founded in the future",
			lines: textLines("统一社会信用代码 "+code, "名称 福建某某科技有限公司", "法定代表人 张三", "住所 福建省福州市鼓楼区五四路1号", "成立日期 2035年01月01日"),
			good: map[string]string{"credit_code": code, "name": "福建某某科技有限公司", "legal_rep": "张三",
				"address": "福建省福州市鼓楼区五四路1号"},
			bad: map[string]string{"established": "2035-01-01"},
		},
	}
	for _, tt := range tests {
		tt.kind, tt.resKind = "bizlicense", "bizlicense"
		t.Run(tt.name, tt.run)
	}
}

func TestReaderPlate(t *testing.T) {
	tests := []readerCase{
		{name: "dot separator", lines: textLines("京A·12345"), valid: true, good: map[string]string{"plate": "京A12345", "type": "ordinary"}},
		{name: "space separator, lower case", lines: textLines("沪a 8c7d9"), valid: true, good: map[string]string{"plate": "沪A8C7D9", "type": "ordinary"}},
		{name: "small new-energy", lines: textLines("4S店", "粤B·D12345"), valid: true, good: map[string]string{"plate": "粤BD12345", "type": "new-energy-small"}},
		{name: "large new-energy with confusables", lines: textLines("粤B 1Z3O5 D"), valid: true, good: map[string]string{"plate": "粤B12305D", "type": "new-energy-large"}},
		{name: "O and I in the serial", lines: textLines("京A·I23O5"), valid: true, good: map[string]string{"plate": "京A12305", "type": "ordinary"}},
		{name: "two rows", lines: textLines("京A", "12345"), valid: true, good: map[string]string{"plate": "京A12345", "type": "ordinary"}},
		{name: "police", lines: textLines("京A·0006警"), valid: true, good: map[string]string{"plate": "京A0006警", "type": "police"}},
		{name: "hong kong", lines: textLines("粤Z·1A23港"), valid: true, good: map[string]string{"plate": "粤Z1A23港", "type": "hongkong"}},
		{name: "six-character serial", lines: textLines("京A·123456"), bad: map[string]string{"plate": "京A123456"}},
		{name: "nothing", lines: textLines("欢迎光临"), bad: map[string]string{"plate": ""}},
	}
	for _, tt := range tests {
		tt.kind, tt.resKind = "plate", "plate"
		t.Run(tt.name, tt.run)
	}
}

func TestReaderDrivingLicense(t *testing.T) {
	fixedNow(t, "2025-06-15")
	head := []string{"中华人民共和国机动车驾驶证", "Driving License of the People's Republic of China"}
	doc := func(rest ...string) []Line { return textLines(append(append([]string{}, head...), rest...)...) }
	full := map[string]string{
		"id_number": testIDMale, "name": "张三", "sex": "男", "nationality": "中国",
		"address": "北京市朝阳区建国路88号院3号楼", "birth_date": "1990-01-02", "first_issue": "2010-05-06",
		"class": "C1", "valid_from": "2016-05-06", "valid_to": "2026-05-06",
	}
	tests := []readerCase{
		{
			name: "bilingual labels",
			lines: doc("证号 "+testIDMale, "姓名 Name 张三 性别 Sex 男 国籍 Nationality 中国",
				"住址 Address 北京市朝阳区建国路88号院", "3号楼", "出生日期 Date of Birth 1990-01-02",
				"初次领证日期 Date of First Issue 2010-05-06", "准驾车型 Class Cl", "有效期限 Valid Period 2016-05-06至2026-05-06"),
			valid: true, good: full,
		},
		{
			name: "split labels, older licence with a start date and 6年",
			lines: doc("证号", testIDMale, "姓名", "张三", "性别男", "国籍中国", "住址北京市朝阳区建国路88号院3号楼",
				"出生日期", "1990-O1-O2", "初次领证日期2010-05-06", "准驾车型", "C1", "有效起始日期2010-05-06", "有效期限6年"),
			valid: true,
			good: map[string]string{"id_number": testIDMale, "name": "张三", "sex": "男", "nationality": "中国",
				"address": "北京市朝阳区建国路88号院3号楼", "birth_date": "1990-01-02", "first_issue": "2010-05-06",
				"class": "C1", "valid_from": "2010-05-06", "valid_to": "2016-05-06"},
		},
		{
			name: "licensed at 12, seven-year validity, unknown class",
			lines: doc("证号"+testIDMale, "姓名张三性别男国籍中国", "住址北京市朝阳区建国路88号院3号楼",
				"出生日期1990-01-02", "初次领证日期2002-05-06", "准驾车型C9", "有效期限2016-05-06至2023-05-06"),
			good: map[string]string{"id_number": testIDMale, "name": "张三", "sex": "男", "nationality": "中国",
				"address": "北京市朝阳区建国路88号院3号楼", "birth_date": "1990-01-02", "valid_from": "2016-05-06"},
			bad: map[string]string{"first_issue": "2002-05-06", "class": "C9", "valid_to": "2023-05-06"},
		},
		{
			name: "number fails its checksum, sex disagrees",
			lines: doc("证号110105199001020018", "姓名张三性别女国籍中国", "住址北京市朝阳区建国路88号院3号楼",
				"出生日期1990-01-02", "初次领证日期2010-05-06", "准驾车型A2E", "有效期限2016-05-06至长期"),
			good: map[string]string{"name": "张三", "sex": "女", "nationality": "中国",
				"address": "北京市朝阳区建国路88号院3号楼", "birth_date": "1990-01-02", "first_issue": "2010-05-06",
				"class": "A2E", "valid_from": "2016-05-06", "valid_to": "长期"},
			bad: map[string]string{"id_number": "110105199001020018"},
		},
	}
	for _, tt := range tests {
		tt.kind, tt.resKind = "driving", "driving"
		t.Run(tt.name, tt.run)
	}
	// with a valid number, the printed sex is checked against it
	r, _ := ReadFields("driving", doc("证号"+testIDMale, "姓名张三性别女国籍中国"))
	if f := r.Fields["sex"]; f.Valid || !strings.Contains(f.Reason, "ID number") {
		t.Errorf("sex disagreeing with the ID number: %+v", f)
	}
}

func TestReaderBusinessCard(t *testing.T) {
	tests := []readerCase{
		{
			name: "Chinese card",
			lines: textLines("北京某某科技有限公司", "张 三", "销售总监", "手机：138 0013 8000", "电话：010-6512 3456",
				"邮箱：zhangsan@example.com", "地址：北京市朝阳区建国路88号"),
			valid: true,
			good: map[string]string{"company": "北京某某科技有限公司", "name": "张三", "title": "销售总监",
				"phone": "13800138000", "phone2": "010-65123456", "email": "zhangsan@example.com",
				"address": "北京市朝阳区建国路88号"},
		},
		{
			name:  "English card",
			lines: textLines("Acme Trading Co., Ltd.", "John Smith", "Sales Manager", "Tel: +86 21 6888 8888", "john.smith@acme.com"),
			valid: true,
			good: map[string]string{"company": "Acme Trading Co., Ltd.", "name": "John Smith", "title": "Sales Manager",
				"phone": "021-68888888", "email": "john.smith@acme.com"},
		},
		{
			name: "tallest name wins, name and title on one line",
			lines: []Line{
				boxLine("市场部", 50, 20, 120, 30),
				boxLine("王五", 50, 60, 100, 30),
				boxLine("李四 总经理", 50, 100, 300, 60),
				boxLine("M: 1391234S678", 50, 200, 300, 30),
			},
			valid: true,
			good:  map[string]string{"name": "李四", "title": "总经理", "phone": "13912345678"},
		},
		{
			name:  "email only",
			lines: textLines("赵六", "zhao.liu@example.cn"),
			valid: true,
			good:  map[string]string{"name": "赵六", "email": "zhao.liu@example.cn"},
		},
		{
			name:  "no contact",
			lines: textLines("赵六", "某某集团"),
			good:  map[string]string{"name": "赵六", "company": "某某集团"},
			bad:   map[string]string{"phone": ""},
		},
		{
			name:  "no name",
			lines: textLines("某某集团有限公司", "13800138000"),
			good:  map[string]string{"company": "某某集团有限公司", "phone": "13800138000"},
			bad:   map[string]string{"name": ""},
		},
	}
	for _, tt := range tests {
		tt.kind, tt.resKind = "card", "card"
		t.Run(tt.name, tt.run)
	}
}

func TestReaderText(t *testing.T) {
	lines := textLines("任意文字", "more text")
	r, err := ReadFields("text", lines)
	if err != nil || r.Kind != "text" || !r.Valid || len(r.Fields) != 0 || r.Fields == nil || len(r.Lines) != 2 {
		t.Errorf("ReadFields(text) = %+v, %v", r, err)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"fields":{}`) {
		t.Errorf("JSON %s: want empty fields object", b)
	}
}

func TestReaderUnknownKind(t *testing.T) {
	_, err := ReadFields("passport", nil)
	if !errors.Is(err, ErrUnknownKind) || !strings.Contains(err.Error(), "bizlicense") {
		t.Errorf("ReadFields(passport): error %v, want ErrUnknownKind listing the kinds", err)
	}
	for _, k := range Kinds {
		if _, err := ReadFields(k, nil); err != nil {
			t.Errorf("ReadFields(%s): %v", k, err)
		}
	}
}

func TestReaderJSON(t *testing.T) {
	r, _ := ReadFields("plate", textLines("京A·12345"))
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"kind":"plate"`, `"value":"京A12345"`, `"valid":true`, `"lines":[{"text":"京A·12345"`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON %s lacks %s", s, want)
		}
	}
	if strings.Contains(s, "reason") {
		t.Errorf("JSON %s: reason of a valid field is not omitted", s)
	}
}

// TestReaderIDCardProperty reads 1000 generated fronts: each is valid; the
// same with the check character or one digit changed is never valid.
func TestReaderIDCardProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	start := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	days := int(today().Sub(start).Hours() / 24)
	for i := 0; i < 1000; i++ {
		birth := start.AddDate(0, 0, rng.IntN(days+1))
		male := rng.IntN(2) == 0
		id := makeID(rng, birth, male)
		sex := map[bool]string{true: "男", false: "女"}[male]
		read := func(id string) Result {
			r, _ := ReadFields("idcard", textLines("姓名张三", "性别"+sex+"民族汉",
				"出生"+birth.Format("2006年1月2日"), "住址北京市朝阳区建国路88号", "公民身份号码"+id))
			return r
		}
		if r := read(id); !r.Valid {
			t.Fatalf("%s: not valid: %+v", id, r.Fields)
		}
		for _, c := range idCheckChars {
			if byte(c) == id[17] {
				continue
			}
			if r := read(id[:17] + string(c)); r.Valid || r.Fields["id_number"].Valid {
				t.Fatalf("%s with check %c: valid", id, c)
			}
		}
		pos := rng.IntN(17)
		alt := id[:pos] + string(byte('0'+(int(id[pos]-'0')+1+rng.IntN(9))%10)) + id[pos+1:]
		if r := read(alt); r.Valid || r.Fields["id_number"].Valid {
			t.Fatalf("%s changed to %s: valid", id, alt)
		}
	}
}

// largeInputs are long garbage lines of each shape a reader scans for: digit
// runs, phone numbers, field labels, plate prefixes, expiry dates, a long
// word. reps is the number of repeats of unit in the full-size input (the
// benchmark's); TestReaderLargeInput uses fractions of it.
var largeInputs = []struct {
	name string
	unit string
	reps int
}{
	{"digits", "1 ", 20000},
	{"phones", "13800 ", 5000},
	{"labels", "姓名性别民族住址", 3000},
	{"plates", "京A", 10000},
	{"dates", "12/28 ", 5000},
	{"word", "O", 30000},
}

// largeLines makes the lines of a large input: the unit repeated reps times,
// twice, then reps/10 repeats split at the spaces into many short lines.
func largeLines(unit string, reps int) []Line {
	s := strings.Repeat(unit, reps)
	lines := textLines(s, s)
	return append(lines, textLines(strings.Split(strings.Repeat(unit, reps/10), " ")...)...)
}

// TestReaderLargeInput: no reader is worse than roughly linear in its input,
// so a long garbage line cannot stall a request.
//
// The test checks an algorithmic property, not a speed (the speed is measured
// by BenchmarkReadFieldsLarge): for each kind and input shape it times
// ReadFields on an input of n repeats and of 8n, takes the minimum over
// largeReps runs of each (interleaved, so that load on a busy machine slows
// both alike; each run starts after a runtime.GC so that one run's garbage is
// not charged to the next), and asserts that the ratio is under 32. Linear
// code gives about 8 (measured 0.7-9.3 under -race at load 4-7 on 2 cores,
// up to 16.7 with two more busy loops; the low ones are where a fixed cost
// dominates); quadratic code gives 64. A ratio over the bound is measured
// again, up to largeTries times, so that only a ratio that stays high fails:
// a quadratic reader fails every time, a preempted run does not.
func TestReaderLargeInput(t *testing.T) {
	const (
		factor    = 8
		maxRatio  = 32.0
		largeReps = 3
		// largeTries is how many times a high ratio is measured before failing.
		largeTries = 3
		// scale divides the benchmark's input: the large input is 1/4 of it,
		// big enough for a quadratic term to show, small enough to keep the
		// test to seconds under -race.
		scale = 32
	)
	timeRead := func(kind string, lines []Line) time.Duration {
		runtime.GC() // start each run on a clean heap: the large run's garbage is not the small run's cost
		start := time.Now()
		if _, err := ReadFields(kind, lines); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	for _, kind := range Kinds {
		for _, in := range largeInputs {
			n := in.reps / scale
			small, large := largeLines(in.unit, n), largeLines(in.unit, factor*n)
			var ratio float64
			var minSmall, minLarge time.Duration
			for try := 0; try < largeTries; try++ {
				minSmall, minLarge = time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
				for range largeReps {
					minSmall = min(minSmall, timeRead(kind, small))
					minLarge = min(minLarge, timeRead(kind, large))
				}
				ratio = float64(minLarge) / float64(max(minSmall, 1))
				if ratio < maxRatio {
					break
				}
				t.Logf("ReadFields(%s, %s): ratio %.1f (%v / %v), measuring again", kind, in.name, ratio, minLarge, minSmall)
			}
			t.Logf("ReadFields(%s, %s): %d→%d repeats: %v→%v, ratio %.1f",
				kind, in.name, n, factor*n, minSmall, minLarge, ratio)
			if ratio >= maxRatio {
				t.Errorf("ReadFields(%s, %s): %d× the input took %.1f× the time (%v / %v) in each of %d measurements; linear is about %d×, quadratic %d×",
					kind, in.name, factor, ratio, minLarge, minSmall, largeTries, factor, factor*factor)
			}
		}
	}
}

// BenchmarkReadFieldsLarge measures ReadFields on the full-size large inputs
// (20-60 kB lines), one sub-benchmark per kind and shape.
func BenchmarkReadFieldsLarge(b *testing.B) {
	for _, kind := range Kinds {
		for _, in := range largeInputs {
			lines := largeLines(in.unit, in.reps)
			b.Run(kind+"/"+in.name, func(b *testing.B) {
				b.SetBytes(int64(2 * len(in.unit) * in.reps))
				for b.Loop() {
					if _, err := ReadFields(kind, lines); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

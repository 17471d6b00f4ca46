package ocr

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// fixedNow pins the readers' clock for one test.
func fixedNow(t *testing.T, day string) {
	t.Helper()
	d, err := time.Parse(dateLayout, day)
	if err != nil {
		t.Fatal(err)
	}
	old := now
	now = func() time.Time { return d.Add(12 * time.Hour) }
	t.Cleanup(func() { now = old })
}

// testProvinces are province codes for generated ID numbers.
var testProvinces = []string{"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
	"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83"}

// makeID builds a valid ID number for a birth date and sex, with random region
// and sequence, computing the check character.
func makeID(rng *rand.Rand, birth time.Time, male bool) string {
	seq := rng.IntN(500) * 2 // even: woman
	if male {
		seq++
	}
	first17 := fmt.Sprintf("%s%04d%s%03d", testProvinces[rng.IntN(len(testProvinces))], rng.IntN(10000),
		birth.Format("20060102"), seq)
	return first17 + string(idCheckChar(first17))
}

// randomID builds a valid ID number with a random birth date from 1900 to today.
func randomID(rng *rand.Rand) string {
	start := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	days := int(today().Sub(start).Hours() / 24)
	return makeID(rng, start.AddDate(0, 0, rng.IntN(days+1)), rng.IntN(2) == 0)
}

// withCheck replaces the check character of an ID number's 17 leading digits.
func withCheck(first17 string) string { return first17 + string(idCheckChar(first17)) }

func TestReaderValidIDNumber(t *testing.T) {
	fixedNow(t, "2025-06-15")
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"public example", "11010519491231002X", true},
		{"lower-case x", "11010519491231002x", true},
		{"wrong check", "110105194912310021", false},
		{"check X where a digit is due", withCheck("11010519491231001")[:17] + "X", false},
		{"17 chars", "11010519491231002", false},
		{"19 chars", "11010519491231002X1", false},
		{"empty", "", false},
		{"letter O inside", "11O10519491231002X", false},
		{"X inside", "1101051949X231002X", false},
		{"full-width digits", "１１０１０５１９４９１２３１００２Ｘ", false},
		{"province 10", withCheck("10010519491231002"), false},
		{"province 99", withCheck("99010519491231002"), false},
		{"province 83", withCheck("83000019491231002"), true},
		{"30 February", withCheck("11010519900230002"), false},
		{"month 13", withCheck("11010519901301002"), false},
		{"born 1899", withCheck("11010518991231002"), false},
		{"born today", withCheck("11010520250615002"), true},
		{"born tomorrow", withCheck("11010520250616002"), false},
		{"29 February 2000", withCheck("11010520000229002"), true},
		{"29 February 1900", withCheck("11010519000229002"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidIDNumber(tt.in); got != tt.want {
				_, _, err := IDNumberInfo(tt.in)
				t.Errorf("ValidIDNumber(%q) = %v, want %v (%v)", tt.in, got, tt.want, err)
			}
		})
	}
}

func TestReaderIDNumberInfo(t *testing.T) {
	tests := []struct {
		in    string
		birth string
		male  bool
	}{
		{"11010519491231002X", "1949-12-31", false},
		{withCheck("44030419880101123"), "1988-01-01", true},
		{withCheck("65010119700704004"), "1970-07-04", false},
	}
	for _, tt := range tests {
		birth, male, err := IDNumberInfo(tt.in)
		if err != nil || birth.Format(dateLayout) != tt.birth || male != tt.male {
			t.Errorf("IDNumberInfo(%q) = %v, %v, %v; want %s, %v", tt.in, birth, male, err, tt.birth, tt.male)
		}
	}
	if _, _, err := IDNumberInfo("110105194912310021"); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("bad checksum: error %v, want a checksum mismatch", err)
	} else if strings.Contains(err.Error(), "1101051949") {
		t.Errorf("error %q repeats the ID number", err)
	}
}

// TestReaderIDNumberProperty: every generated number is valid; changing its
// check character or any one digit makes it invalid.
func TestReaderIDNumberProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		id := randomID(rng)
		if !ValidIDNumber(id) {
			t.Fatalf("generated %s: not valid", id)
		}
		birth, male, err := IDNumberInfo(id)
		if err != nil || birth.Format("20060102") != id[6:14] || male != ((id[16]-'0')%2 == 1) {
			t.Fatalf("IDNumberInfo(%s) = %v, %v, %v", id, birth, male, err)
		}
		for _, c := range idCheckChars {
			if byte(c) != id[17] && ValidIDNumber(id[:17]+string(c)) {
				t.Fatalf("%s with check %c: valid", id, c)
			}
		}
		pos := rng.IntN(17)
		d := byte('0' + (int(id[pos]-'0')+1+rng.IntN(9))%10)
		if alt := id[:pos] + string(d) + id[pos+1:]; ValidIDNumber(alt) {
			t.Fatalf("%s with digit %d changed (%s): valid", id, pos+1, alt)
		}
	}
}

func TestReaderValidLuhn(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"79927398713", true},
		{"6222021234567890128", ValidLuhn("6222021234567890128")},
		{"0", false},
		{"", false},
		{"4111 1111 1111 1111", false},
		{"41111111111111l1", false},
		{"00", true},
	}
	for _, tt := range tests {
		if got := ValidLuhn(tt.in); got != tt.want {
			t.Errorf("ValidLuhn(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		n := randomCard(rng, 13+rng.IntN(7))
		if !ValidLuhn(n) {
			t.Fatalf("generated %s: not valid", n)
		}
		pos := rng.IntN(len(n))
		d := byte('0' + (int(n[pos]-'0')+1+rng.IntN(9))%10)
		if alt := n[:pos] + string(d) + n[pos+1:]; ValidLuhn(alt) {
			t.Fatalf("%s with digit %d changed: valid", n, pos+1)
		}
	}
}

// randomCard builds a Luhn-valid UnionPay-like number of n digits.
func randomCard(rng *rand.Rand, n int) string {
	b := []byte("62")
	for len(b) < n-1 {
		b = append(b, byte('0'+rng.IntN(10)))
	}
	for c := byte('0'); c <= '9'; c++ {
		if ValidLuhn(string(append(b, c))) {
			return string(append(b, c))
		}
	}
	panic("no Luhn digit")
}

// randomCreditCode builds a valid credit code.
func randomCreditCode(rng *rand.Rand) string {
	b := []byte("91")
	b = append(b, testProvinces[rng.IntN(len(testProvinces))]...)
	for len(b) < 8 {
		b = append(b, byte('0'+rng.IntN(10)))
	}
	for len(b) < 17 {
		b = append(b, creditChars[rng.IntN(len(creditChars))])
	}
	c, err := creditCheckChar(string(b))
	if err != nil {
		panic(err)
	}
	return string(append(b, c))
}

func TestReaderValidCreditCode(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"91350100M000100Y43", true}, // the example of GB 32100-2015
		{"91350100M000100Y44", false},
		{"91350100M000100Y4", false},
		{"91350100M000100Y430", false},
		{"91350100m000100y43", false},
		{"9135O100M000100Y43", false}, // letter O
		{"913501A0M000100Y4" + "X", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidCreditCode(tt.in); got != tt.want {
			t.Errorf("ValidCreditCode(%q) = %v, want %v (%v)", tt.in, got, tt.want, checkCreditCode(tt.in))
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1000; i++ {
		c := randomCreditCode(rng)
		if !ValidCreditCode(c) {
			t.Fatalf("generated %s: not valid (%v)", c, checkCreditCode(c))
		}
		pos := rng.IntN(18)
		k := strings.IndexByte(creditChars, c[pos])
		alt := c[:pos] + string(creditChars[(k+1+rng.IntN(30))%31]) + c[pos+1:]
		if ValidCreditCode(alt) {
			t.Fatalf("%s with character %d changed (%s): valid", c, pos+1, alt)
		}
	}
}

func TestReaderValidPlate(t *testing.T) {
	tests := []struct {
		in   string
		kind string
	}{
		{"京A12345", "ordinary"},
		{"沪B8C7D9", "ordinary"},
		{"粤BD12345", "new-energy-small"},
		{"粤BFA1234", "new-energy-small"},
		{"粤B12345D", "new-energy-large"},
		{"粤B12345F", "new-energy-large"},
		{"京A1234学", "learner"},
		{"京A0006警", "police"},
		{"鲁B1234挂", "trailer"},
		{"沪A1234领", "consulate"},
		{"粤Z1A23港", "hongkong"},
		{"粤Z1234澳", "macau"},
		{"使014578", "embassy"},
		{"京A1234O", ""},  // O in the serial
		{"京AI2345", ""},  // I in the serial
		{"京A1234", ""},   // too short
		{"京A123456", ""}, // seven-character serial without D/F
		{"粤BD1234A", ""}, // small new-energy ends in digits
		{"粤B1234AD", ""}, // large new-energy is five digits
		{"A12345", ""},
		{"港A12345", ""},
		{"京a12345", ""},
		{"京A·12345", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := plateKind(tt.in); got != tt.kind || ValidPlate(tt.in) != (tt.kind != "") {
			t.Errorf("plateKind(%q) = %q, want %q", tt.in, got, tt.kind)
		}
	}
}

func TestReaderParseChineseDate(t *testing.T) {
	fixedNow(t, "2025-06-15")
	tests := []struct {
		in   string
		want string // "" for an error
	}{
		{"1990年1月2日", "1990-01-02"},
		{"1990年01月02日", "1990-01-02"},
		{"1990 年 1 月 2 日", "1990-01-02"},
		{"1990年1月2", "1990-01-02"},
		{"1990.01.02", "1990-01-02"},
		{"1990-01-02", "1990-01-02"},
		{"1990/1/2", "1990-01-02"},
		{"1990.1-2", "1990-01-02"},
		{"19900102", "1990-01-02"},
		{"１９９０．０１．０２", "1990-01-02"},
		{"2000-02-29", "2000-02-29"},
		{"2100-01-01", "2100-01-01"}, // a date, though in the future
		{"1990-02-30", ""},
		{"1900-02-29", ""},
		{"19900230", ""},
		{"1990-13-01", ""},
		{"1990-00-10", ""},
		{"1990-01-00", ""},
		{"1990-01-32", ""},
		{"1990年1-2", ""},
		{"1990-1月2日", ""},
		{"1990.01.02日", ""},
		{"90.01.02", ""},
		{"1990.001.02", ""},
		{"1990.01.02.", ""},
		{"1990O102", ""}, // confusables are the caller's business
		{"199001021", ""},
		{"", ""},
		{"年月日", ""},
	}
	for _, tt := range tests {
		got, err := ParseChineseDate(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseChineseDate(%q) = %v, want an error", tt.in, got)
		case tt.want != "" && (err != nil || got.Format(dateLayout) != tt.want):
			t.Errorf("ParseChineseDate(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestReaderFixDigits(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1990年O1月O2日", "1990年01月02日"},
		{"6222 O2l2 3456 7B9O", "6222 0212 3456 7890"},
		{"Z0I5.S.l", "2015.5.1"},
		{"张三", "张三"},
		{"长期", "长期"},
	}
	for _, tt := range tests {
		if got := fixDigits(tt.in); got != tt.want {
			t.Errorf("fixDigits(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReaderDrivingClass(t *testing.T) {
	tests := []struct{ in, want string }{
		{"C1", "C1"},
		{"Cl", "C1"},
		{"c1", "C1"},
		{"CZ", "C2"},
		{"A2E", "A2E"},
		{"C1D", "C1D"},
		{"A1 A2", "A1A2"},
		{"B1/B2", "B1B2"},
		{"C7", ""},
		{"A4", ""},
		{"C", ""},
		{"G", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := parseDrivingClass(tt.in)
		if tt.want == "" && err == nil || tt.want != "" && (err != nil || got != tt.want) {
			t.Errorf("parseDrivingClass(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestReaderPhones(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"手机：138 0013 8000", []string{"13800138000"}},
		{"Mobile: +86 139-1234-5678", []string{"13912345678"}},
		{"Tel: 010-62345678", []string{"010-62345678"}},
		{"电话 (0755) 8888 6666 转 801", []string{"0755-88886666"}},
		{"T: 021-6888 8888-123", []string{"021-68888888"}},
		{"+86 10 6512 3456", []string{"010-65123456"}},
		{"400-820-8820", []string{"400-820-8820"}},
		{"M:1380O138OOO", []string{"13800138000"}},
		{"13800138000 13912345678", []string{"13800138000", "13912345678"}},
		{"Tel 0l0-62345678", []string{"010-62345678"}},
		{"邮编 100020", nil},
		{"12345678", nil},
		{"Room 1203", nil},
		{"13800138000Sales", []string{"13800138000"}},
		{"010-12345678", nil}, // local numbers do not start with 1
	}
	for _, tt := range tests {
		got := phonesIn(tidyText(tt.in))
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("phonesIn(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

package ocr

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// The document-reading accuracy test: synthetic ID cards (front and back),
// bank cards, business and driving licences with random realistic data,
// rendered at a real layout, photographed the way a 360p video frame shows a
// card held to the camera, read by the real engine and the readers, and
// compared field by field with what was printed. A quarter of the check
// characters are altered, and such a number must never come back valid.

// docSample is one synthetic document: how it is drawn and photographed, and
// what a perfect read returns.
type docSample struct {
	kind    string // ReadFields kind
	label   string // kind as reported (idcard-front, …)
	canvas  *canvas
	photo   photo
	truth   map[string]string // field → the value a perfect read returns
	checked string            // the field carrying a check character, or ""
	badChk  bool              // the check character was altered
	full    bool              // also read at full scale, unblurred
}

// documentKinds are the kinds generated, how many of each, and the fields
// reported, in order.
var documentKinds = []struct {
	label  string
	n      int
	gen    func(*rand.Rand) docSample
	fields []string
}{
	{"idcard-front", 60, genIDFront, []string{"name", "sex", "ethnicity", "birth_date", "address", "id_number"}},
	{"idcard-back", 20, genIDBack, []string{"issuing_authority", "valid_from", "valid_to"}},
	{"bankcard", 30, genBankCard, []string{"card_number", "expiry", "network", "bank"}},
	{"bizlicense", 10, genBizLicense, []string{"credit_code", "name", "legal_rep", "address", "established"}},
	{"driving", 10, genDrivingLicence, []string{"id_number", "name", "sex", "nationality", "address",
		"birth_date", "first_issue", "class", "valid_from", "valid_to"}},
}

// badCheckShare is the share of documents whose check character is altered.
const badCheckShare = 0.25

// fullEvery reads every fullEvery-th document of a kind at full scale too.
const fullEvery = 3

// minIDExact is the least share of valid-checksum ID numbers, at the 360p-like
// scale, that must be read exactly and reported valid.
const minIDExact = 0.95

// ---- the documents ----

func genIDFront(rng *rand.Rand) docSample {
	name, _ := randName(rng)
	male := rng.IntN(2) == 0
	sex := map[bool]string{true: "男", false: "女"}[male]
	eth := pick(rng, ethnicities)
	birth := randDate(rng, 1950, 2006)
	reg := pick(rng, regions)
	addr := randAddress(rng, pick(rng, regions))
	id, badID := randIDNumber(rng, reg, birth, male)
	bad := rng.Float64() < badCheckShare
	if bad {
		id = badID
	}
	return docSample{
		kind:   "idcard",
		canvas: drawIDFront(name, sex, eth, [3]int{birth.Year(), int(birth.Month()), birth.Day()}, addr, id),
		truth: map[string]string{"name": name, "sex": sex, "ethnicity": eth,
			"birth_date": birth.Format(dateLayout), "address": addr, "id_number": id},
		checked: "id_number", badChk: bad,
	}
}

func genIDBack(rng *rand.Rand) docSample {
	reg := pick(rng, regions)
	city := reg.city
	if city == "" {
		city = reg.province
	}
	district := strings.TrimSuffix(strings.TrimSuffix(reg.district, "区"), "新")
	authority := city + "公安局" + district + "分局"
	// The card's term follows the holder's age when it was issued.
	issued := randDate(rng, 2006, 2026)
	age := 10 + rng.IntN(60)
	to, span := "", 0
	switch {
	case age < 16:
		span = 5
	case age < 26:
		span = 10
	case age < 46:
		span = 20
	default:
		to = longTerm
	}
	printedTo := to
	if span > 0 {
		end := issued.AddDate(span, 0, 0)
		to, printedTo = end.Format(dateLayout), end.Format("2006.01.02")
	}
	return docSample{
		kind:   "idcard",
		canvas: drawIDBack(authority, issued.Format("2006.01.02")+"-"+printedTo),
		truth:  map[string]string{"issuing_authority": authority, "valid_from": issued.Format(dateLayout), "valid_to": to},
	}
}

// cardBins are issuer prefixes: bank, prefix, length, network, card type.
var cardBins = []struct {
	bank, prefix string
	length       int
	network      string
	kind         string
}{
	{"中国工商银行", "622202", 19, "unionpay", "借记卡"}, {"中国建设银行", "621700", 19, "unionpay", "借记卡"},
	{"中国农业银行", "622848", 19, "unionpay", "借记卡"}, {"中国银行", "621661", 19, "unionpay", "借记卡"},
	{"招商银行", "622588", 16, "unionpay", "借记卡"}, {"交通银行", "622262", 19, "unionpay", "借记卡"},
	{"招商银行", "439225", 16, "visa", "信用卡"}, {"中国银行", "438088", 16, "visa", "信用卡"},
	{"中国建设银行", "524094", 16, "mastercard", "信用卡"}, {"中信银行", "552599", 16, "mastercard", "信用卡"},
	{"浦发银行", "625957", 16, "unionpay", "信用卡"},
}

func genBankCard(rng *rand.Rand) docSample {
	bin := pick(rng, cardBins)
	body := bin.prefix + randDigits(rng, bin.length-len(bin.prefix)-1)
	check := luhnDigit(body)
	bad := rng.Float64() < badCheckShare
	if bad {
		check = otherChar(rng, "0123456789", check)
	}
	number := body + string(check)
	expiry := fmt.Sprintf("%02d/%02d", 1+rng.IntN(12), 26+rng.IntN(8))
	_, holder := randName(rng)
	truth := map[string]string{"card_number": number, "expiry": expiry, "bank": bin.bank}
	if !bad {
		truth["network"] = bin.network // the reader names it from a valid number only
	}
	return docSample{
		kind:   "bankcard",
		canvas: drawBankCard(pick(rng, bankStyles), bin.bank, bin.kind, number, expiry, holder, bin.network),
		truth:  truth, checked: "card_number", badChk: bad,
	}
}

var (
	tradeNames = strings.Fields("华信 恒通 鑫源 博远 创新 宏达 瑞丰 金科 天成 联合 安信 众合 新锐 海川 明德 嘉禾 远航 正泰")
	industries = strings.Fields("科技 贸易 信息技术 建筑工程 餐饮管理 物流 电子 文化传媒 医疗器械 网络科技 环保科技 商贸")
	firmTypes  = []string{"有限责任公司(自然人独资)", "其他有限责任公司", "有限责任公司(法人独资)", "股份有限公司(非上市)"}
	capitals   = strings.Fields("壹佰万元整 伍佰万元整 壹仟万元整 伍拾万元整 叁佰万元整 贰仟万元整")
	scopes     = []string{"技术开发、技术咨询、技术服务；销售电子产品、计算机软硬件。", "国内贸易；货物及技术进出口；供应链管理服务。",
		"餐饮管理；食品销售；会议及展览服务。", "普通货运；仓储服务(不含危险化学品)；装卸搬运。"}
)

func genBizLicense(rng *rand.Rand) docSample {
	reg := pick(rng, regions)
	city := strings.TrimSuffix(reg.city, "市")
	if city == "" {
		city = strings.TrimSuffix(reg.province, "市")
	}
	name := city + pick(rng, tradeNames) + pick(rng, industries) + "有限公司"
	rep, _ := randName(rng)
	addr := randAddress(rng, reg)
	est := randDate(rng, 1998, 2026)
	var org string
	if rng.IntN(2) == 0 {
		org = "MA"
		for range 7 {
			org += string(creditChars[rng.IntN(len(creditChars))])
		}
	} else {
		org = randDigits(rng, 8) + string(creditChars[rng.IntN(len(creditChars))])
	}
	first17 := "91" + reg.code + org
	check, _ := creditCheckChar(first17)
	bad := rng.Float64() < badCheckShare
	if bad {
		check = otherChar(rng, creditChars, check)
	}
	code := first17 + string(check)
	estCN := est.Format("2006年01月02日")
	term := estCN + "至长期"
	issued := est.AddDate(rng.IntN(5), rng.IntN(12), 0)
	if issued.Year() > 2025 {
		issued = est
	}
	return docSample{
		kind: "bizlicense",
		canvas: drawBizLicense(code, name, pick(rng, firmTypes), rep, pick(rng, scopes), pick(rng, capitals),
			estCN, term, addr, issued.Format("2006年01月02日")),
		truth: map[string]string{"credit_code": code, "name": name, "legal_rep": rep, "address": addr,
			"established": est.Format(dateLayout)},
		checked: "credit_code", badChk: bad,
	}
}

var drivingClassesDrawn = strings.Fields("C1 C1 C1 C1 C2 C2 A1 A2 B1 B2")

func genDrivingLicence(rng *rand.Rand) docSample {
	name, _ := randName(rng)
	male := rng.IntN(3) > 0
	sex := map[bool]string{true: "男", false: "女"}[male]
	birth := randDate(rng, 1950, 2006)
	reg := pick(rng, regions)
	id, _ := randIDNumber(rng, reg, birth, male)
	addr := randAddress(rng, pick(rng, regions))
	// First licence at 18 to 40, valid 6 years, renewed for 10, then long-term,
	// the current period having started before the end of 2025.
	cutoff := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	first := birth.AddDate(18+rng.IntN(23), rng.IntN(12), rng.IntN(28))
	for first.After(cutoff) {
		first = first.AddDate(-1, 0, 0)
	}
	from, span := first, 6
	if next := from.AddDate(6, 0, 0); !next.After(cutoff) && rng.IntN(3) > 0 {
		from, span = next, 10
		if next := from.AddDate(10, 0, 0); !next.After(cutoff) && rng.IntN(2) == 0 {
			from, span = next, 0
		}
	}
	to := longTerm
	if span > 0 {
		to = from.AddDate(span, 0, 0).Format(dateLayout)
	}
	class := pick(rng, drivingClassesDrawn)
	return docSample{
		kind: "driving",
		canvas: drawDrivingLicence(id, name, sex, addr, birth.Format(dateLayout), first.Format(dateLayout), class,
			from.Format(dateLayout)+" 至 "+to),
		truth: map[string]string{"id_number": id, "name": name, "sex": sex, "nationality": "中国", "address": addr,
			"birth_date": birth.Format(dateLayout), "first_issue": first.Format(dateLayout), "class": class,
			"valid_from": from.Format(dateLayout), "valid_to": to},
		checked: "id_number",
	}
}

// generateDocuments draws every document of documentKinds from rng, in a
// fixed order, so that a seed gives the same documents.
func generateDocuments(rng *rand.Rand) []docSample {
	var out []docSample
	for _, k := range documentKinds {
		for i := range k.n {
			d := k.gen(rng)
			d.label = k.label
			d.photo = randPhoto(rng, d.canvas.size)
			d.full = i%fullEvery == 0
			out = append(out, d)
		}
	}
	return out
}

// checkedValid validates a generated number with the package's own checks.
func checkedValid(field, v string) bool {
	switch field {
	case "id_number":
		return ValidIDNumber(v)
	case "card_number":
		return ValidLuhn(v)
	case "credit_code":
		return ValidCreditCode(v)
	}
	return false
}

// ---- the test ----

// docRead is one document read at one scale.
type docRead struct {
	lines []Line
	res   Result
	took  time.Duration
}

// fieldTally counts the reads of one field: how many, how many equal to the
// truth, how many reported valid.
type fieldTally struct{ n, exact, valid int }

func (f *fieldTally) String() string {
	if f == nil || f.n == 0 {
		return "-\t-\t-"
	}
	return fmt.Sprintf("%d\t%5.1f%%\t%d", f.n, 100*float64(f.exact)/float64(f.n), f.valid)
}

// tallyKey names a report row: the kind, the field, and whether the rows are
// of documents whose check character was altered.
type tallyKey struct {
	label, field string
	badChk       bool
}

func TestDocumentsAccuracy(t *testing.T) {
	fixedNow(t, "2026-01-15")
	bin := ensureTools(t)
	ensureDocumentFonts(t, bin)
	e := sharedEngine(t)
	docs := generateDocuments(rand.New(rand.NewPCG(20260115, 360)))
	for i, d := range docs {
		if d.checked != "" && checkedValid(d.checked, d.truth[d.checked]) == d.badChk {
			t.Fatalf("generated %s #%d: %s %q valid=%v, want %v", d.label, i, d.checked, d.truth[d.checked], d.badChk, !d.badChk)
		}
	}
	// STOA_OCR_DOCS_DIR keeps the images, to look at what was read.
	dir := os.Getenv("STOA_OCR_DOCS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	start := time.Now()
	reads := readDocuments(t, e, bin, dir, docs)
	wall := time.Since(start)

	tallies := [2]map[tallyKey]*fieldTally{{}, {}} // 360p-like, full scale
	var idN, idExact int                           // ID fronts with a valid check character, 360p-like
	var took time.Duration
	for i := range docs {
		d := &docs[i]
		took += reads[i][0].took
		for scale, r := range reads[i] {
			if r != nil {
				scoreRead(t, i, d, [2]string{"360p", "full"}[scale], r, tallies[scale])
			}
		}
		if d.label == "idcard-front" && !d.badChk {
			idN++
			if f := reads[i][0].res.Fields["id_number"]; f.Value == d.truth["id_number"] && f.Valid {
				idExact++
			}
		}
	}

	t.Logf("exact-field accuracy (exact: value equal to what was printed; valid: how many reported valid):\n%s",
		tallyTable(tallies))
	rate := float64(idExact) / float64(max(idN, 1))
	t.Logf("ID fronts with a valid check character, 360p-like: %d of %d read exactly and valid (%.1f%%)",
		idExact, idN, 100*rate)
	t.Logf("%d documents; mean OCR+read time per 360p-like document %v; drawing and reading took %v",
		len(docs), (took / time.Duration(len(docs))).Round(time.Millisecond), wall.Round(time.Millisecond))
	if idN == 0 || rate < minIDExact {
		t.Errorf("valid ID numbers read exactly at the 360p-like scale: %.1f%% (%d of %d), want at least %.0f%%",
			100*rate, idExact, idN, 100*minIDExact)
	}
}

// readDocuments draws and photographs every document and reads it: the
// 360p-like frame always ([0]), the clean full-scale image when asked ([1]).
// Two convert processes draw while the engine reads what is ready.
func readDocuments(t *testing.T, e *Engine, bin, dir string, docs []docSample) [][2]*docRead {
	type rendered struct {
		i            int
		frame, clean image.Image
		err          error
	}
	ctx, cancel := context.WithCancel(context.Background())
	jobs := make(chan int, len(docs))
	for i := range docs {
		jobs <- i
	}
	close(jobs)
	done := make(chan rendered, len(docs))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range 2 {
		wg.Go(func() {
			for i := range jobs {
				if ctx.Err() != nil {
					return
				}
				d := &docs[i]
				frame, clean, err := renderDocument(ctx, bin, dir, fmt.Sprintf("%s-%03d", d.label, i), d.canvas, d.photo, d.full)
				done <- rendered{i, frame, clean, err}
			}
		})
	}
	read := func(img image.Image, d *docSample) *docRead {
		t0 := time.Now()
		lines, err := e.Read(ctx, img)
		if err != nil {
			t.Fatalf("read %s: %v", d.label, err)
		}
		res, err := ReadFields(d.kind, lines)
		if err != nil {
			t.Fatalf("read fields of %s: %v", d.label, err)
		}
		return &docRead{lines, res, time.Since(t0)}
	}
	reads := make([][2]*docRead, len(docs))
	for range docs {
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		reads[r.i][0] = read(r.frame, &docs[r.i])
		if r.clean != nil {
			reads[r.i][1] = read(r.clean, &docs[r.i])
		}
	}
	return reads
}

// scoreRead counts one read's fields against the truth and logs what it got
// wrong, with the OCR lines. An altered check character reported valid is an
// error.
func scoreRead(t *testing.T, i int, d *docSample, scale string, r *docRead, tallies map[tallyKey]*fieldTally) {
	t.Helper()
	var misses []string
	if r.res.Kind != d.label {
		misses = append(misses, "read as "+r.res.Kind)
	}
	for _, field := range kindFields(d.label) {
		want, ok := d.truth[field]
		if !ok {
			continue
		}
		f := r.res.Fields[field]
		bad := d.badChk && field == d.checked
		k := tallyKey{d.label, field, bad}
		if tallies[k] == nil {
			tallies[k] = &fieldTally{}
		}
		tl := tallies[k]
		tl.n++
		if f.Value == want {
			tl.exact++
		}
		if f.Valid {
			tl.valid++
		}
		if bad && f.Valid {
			t.Errorf("%s %s #%d: %s %q has an altered check character, but %q was reported valid",
				scale, d.label, i, field, want, f.Value)
		}
		if f.Value != want || f.Valid == bad {
			m := fmt.Sprintf("%s %q valid=%v, want %q", field, f.Value, f.Valid, want)
			if f.Reason != "" {
				m += " (" + f.Reason + ")"
			}
			if field == d.checked && f.Value != "" {
				m += " [" + runeDiff(want, f.Value) + "]"
			}
			misses = append(misses, m)
		}
	}
	if len(misses) == 0 {
		return
	}
	texts := make([]string, len(r.lines))
	for k, l := range r.lines {
		texts[k] = l.Text
	}
	p := d.photo
	t.Logf("%s %s #%d (width %d, %.1f°, blur %.2f, q%d):\n\t%s\n\tlines: %s", scale, d.label, i,
		p.width, p.angle, p.sigma, p.quality, strings.Join(misses, "\n\t"), strings.Join(texts, " | "))
}

// kindFields returns the fields reported for a kind, in order.
func kindFields(label string) []string {
	for _, k := range documentKinds {
		if k.label == label {
			return k.fields
		}
	}
	return nil
}

// tallyTable formats the tallies, one row per kind and field, the rows of
// altered check characters apart.
func tallyTable(tallies [2]map[tallyKey]*fieldTally) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tfield\t360p: n\texact\tvalid\tfull: n\texact\tvalid\t")
	for _, k := range documentKinds {
		for _, field := range k.fields {
			for _, bad := range []bool{false, true} {
				key := tallyKey{k.label, field, bad}
				s, f := tallies[0][key], tallies[1][key]
				if s == nil && f == nil {
					continue
				}
				name := field
				if bad {
					name += " (bad check)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t\n", k.label, name, s, f)
			}
		}
	}
	tw.Flush()
	return b.String()
}

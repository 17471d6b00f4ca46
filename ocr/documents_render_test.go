package ocr

import (
	"context"
	"fmt"
	"image"
	_ "image/jpeg" // frames
	_ "image/png"  // full-scale renderings
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// This file makes the synthetic documents of documents_test.go: random
// realistic data (names, regions, addresses, dates, numbers with their check
// characters), drawn with ImageMagick at a realistic layout, then
// "photographed": shrunk to what a 640×360 video frame shows of a document
// held to the camera, set on a background, rotated, blurred and
// JPEG-compressed, all in one convert run per document.

// surnames and givenChars are common name characters with their pinyin, for
// the holder's name printed on bank cards.
var (
	surnames   = pinyinTable("王WANG 李LI 张ZHANG 刘LIU 陈CHEN 杨YANG 黄HUANG 赵ZHAO 吴WU 周ZHOU 徐XU 孙SUN 马MA 朱ZHU 胡HU 郭GUO 何HE 高GAO 林LIN 罗LUO 郑ZHENG 梁LIANG 谢XIE 宋SONG 唐TANG 韩HAN 冯FENG 邓DENG 曹CAO 彭PENG 曾ZENG 肖XIAO 田TIAN 董DONG 袁YUAN 潘PAN 蒋JIANG 蔡CAI 杜DU 叶YE 程CHENG 苏SU 魏WEI 吕LV 丁DING 任REN 沈SHEN 姚YAO 卢LU 钟ZHONG")
	givenChars = pinyinTable("伟WEI 芳FANG 娜NA 敏MIN 静JING 丽LI 强QIANG 磊LEI 军JUN 洋YANG 勇YONG 艳YAN 杰JIE 娟JUAN 涛TAO 明MING 超CHAO 霞XIA 平PING 刚GANG 桂GUI 英YING 华HUA 建JIAN 国GUO 志ZHI 文WEN 玉YU 兰LAN 海HAI 红HONG 晓XIAO 婷TING 雪XUE 鹏PENG 辉HUI 宇YU 浩HAO 欣XIN 梅MEI 琳LIN 佳JIA 子ZI 嘉JIA 俊JUN 鑫XIN 博BO 丹DAN 凯KAI 思SI 雨YU 轩XUAN 然RAN 诗SHI 涵HAN 泽ZE 瑞RUI 秀XIU 春CHUN")
)

type hanPinyin struct{ han, pinyin string }

func pinyinTable(s string) []hanPinyin {
	var out []hanPinyin
	for _, f := range strings.Fields(s) {
		r := []rune(f)
		out = append(out, hanPinyin{string(r[0]), string(r[1:])})
	}
	return out
}

// randName returns a Chinese name of two or three characters and its pinyin
// as printed on a card ("ZHANG XIAOMING").
func randName(rng *rand.Rand) (han, pinyin string) {
	s := surnames[rng.IntN(len(surnames))]
	han, pinyin = s.han, s.pinyin+" "
	for range 1 + rng.IntN(2) {
		g := givenChars[rng.IntN(len(givenChars))]
		han, pinyin = han+g.han, pinyin+g.pinyin
	}
	return han, pinyin
}

// ethnicities, weighted roughly as in the population: mostly 汉.
var ethnicities = append(slices.Repeat([]string{"汉"}, 14),
	"回", "满", "壮", "蒙古", "维吾尔", "苗", "彝", "土家", "藏", "朝鲜", "侗", "瑶", "白", "布依")

// region is a county-level division: its code (the ID number's first six
// digits) and its names.
type region struct{ code, province, city, district string }

// regions are real region codes with their names (city is "" in a municipality).
var regions = []region{
	{"110105", "北京市", "", "朝阳区"}, {"110108", "北京市", "", "海淀区"}, {"310115", "上海市", "", "浦东新区"},
	{"310104", "上海市", "", "徐汇区"}, {"120101", "天津市", "", "和平区"}, {"500103", "重庆市", "", "渝中区"},
	{"440305", "广东省", "深圳市", "南山区"}, {"440106", "广东省", "广州市", "天河区"}, {"330106", "浙江省", "杭州市", "西湖区"},
	{"320102", "江苏省", "南京市", "玄武区"}, {"510107", "四川省", "成都市", "武侯区"}, {"420106", "湖北省", "武汉市", "武昌区"},
	{"370202", "山东省", "青岛市", "市南区"}, {"610113", "陕西省", "西安市", "雁塔区"}, {"210102", "辽宁省", "沈阳市", "和平区"},
	{"350203", "福建省", "厦门市", "思明区"}, {"430104", "湖南省", "长沙市", "岳麓区"}, {"130102", "河北省", "石家庄市", "长安区"},
	{"410105", "河南省", "郑州市", "金水区"}, {"340104", "安徽省", "合肥市", "蜀山区"}, {"360102", "江西省", "南昌市", "东湖区"},
	{"450103", "广西壮族自治区", "南宁市", "青秀区"}, {"530102", "云南省", "昆明市", "五华区"}, {"620102", "甘肃省", "兰州市", "城关区"},
	{"650102", "新疆维吾尔自治区", "乌鲁木齐市", "天山区"}, {"150102", "内蒙古自治区", "呼和浩特市", "新城区"},
	{"230103", "黑龙江省", "哈尔滨市", "南岗区"}, {"220102", "吉林省", "长春市", "南关区"}, {"140105", "山西省", "太原市", "小店区"},
	{"520102", "贵州省", "贵阳市", "南明区"}, {"460106", "海南省", "海口市", "龙华区"}, {"640104", "宁夏回族自治区", "银川市", "兴庆区"},
}

var (
	streets  = strings.Fields("建国路 人民路 解放路 中山路 长江路 和平街 新华路 文化路 学院路 胜利街 光明路 朝阳路 幸福路 青年路 东风路 滨河路 科技园路 黄河路 北京路 南京路")
	towns    = strings.Fields("城关镇 新华镇 东城街道 南湖街道 白沙镇 龙泉街道")
	villages = strings.Fields("红旗村 新民村 光明村 和平村 东风村 永安村")
)

// randAddress returns an address in reg: the province, city and district,
// then a street and number (with building, unit and flat) or a village.
func randAddress(rng *rand.Rand, reg region) string {
	a := reg.province + reg.city + reg.district
	if reg.city == "" {
		a = reg.province + reg.district
	}
	street := streets[rng.IntN(len(streets))]
	switch rng.IntN(4) {
	case 0:
		return a + fmt.Sprintf("%s%d号", street, 1+rng.IntN(300))
	case 1:
		return a + fmt.Sprintf("%s%d号%d号楼%d单元%d室", street, 1+rng.IntN(200), 1+rng.IntN(30), 1+rng.IntN(6),
			(1+rng.IntN(25))*100+1+rng.IntN(4))
	case 2:
		return a + fmt.Sprintf("%s%d号院%d栋%d室", street, 1+rng.IntN(120), 1+rng.IntN(20), (1+rng.IntN(18))*100+1+rng.IntN(6))
	}
	return a + fmt.Sprintf("%s%s%d组%d号", towns[rng.IntN(len(towns))], villages[rng.IntN(len(villages))],
		1+rng.IntN(12), 1+rng.IntN(80))
}

// randDate returns a day between the first days of the years from and to.
func randDate(rng *rand.Rand, from, to int) time.Time {
	a := time.Date(from, 1, 1, 0, 0, 0, 0, time.UTC)
	days := int(time.Date(to, 1, 1, 0, 0, 0, 0, time.UTC).Sub(a).Hours() / 24)
	return a.AddDate(0, 0, rng.IntN(days))
}

// randIDNumber returns an ID number for a person born on birth in reg, with
// a correct check character, and the number with the check altered.
func randIDNumber(rng *rand.Rand, reg region, birth time.Time, male bool) (good, bad string) {
	sex := 2 * rng.IntN(5)
	if male {
		sex++
	}
	first17 := fmt.Sprintf("%s%s%02d%d", reg.code, birth.Format("20060102"), rng.IntN(100), sex)
	return first17 + string(idCheckChar(first17)), first17 + string(otherChar(rng, idCheckChars, idCheckChar(first17)))
}

// otherChar picks a character of alphabet other than c.
func otherChar(rng *rand.Rand, alphabet string, c byte) byte {
	for {
		if o := alphabet[rng.IntN(len(alphabet))]; o != c {
			return o
		}
	}
}

// luhnDigit returns the digit that completes digits to pass the Luhn check.
func luhnDigit(digits string) byte {
	sum := 0
	for i := 0; i < len(digits); i++ {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 0 { // doubled once the check digit is appended
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// randDigits returns n random decimal digits.
func randDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

// pick returns a random element of s.
func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// randPhoto returns how a document of the given size is photographed: about
// 60–75% of the 640 px frame wide (less when it would not fit the 360 px
// height), rotated by up to 4°, blurred with σ 0.5–1.0, JPEG quality 50–75.
func randPhoto(rng *rand.Rand, size image.Point) photo {
	w := 384 + rng.IntN(97)
	w = min(w, 320*size.X/size.Y)
	h := w * size.Y / size.X
	p := photo{
		width:   w,
		angle:   (rng.Float64()*2 - 1) * 4,
		sigma:   0.5 + rng.Float64()*0.5,
		quality: 50 + rng.IntN(26),
		bg:      pick(rng, frameBackgrounds),
		seed:    rng.IntN(1 << 20),
	}
	if mx := (640 - w - 30) / 2; mx > 0 {
		p.dx = rng.IntN(2*mx+1) - mx
	}
	if my := (360 - h - 30) / 2; my > 0 {
		p.dy = rng.IntN(2*my+1) - my
	}
	if rng.IntN(2) == 0 {
		p.noise = 0.3 + rng.Float64()*0.5
	}
	return p
}

// ---- drawing and photographing ----

// Fonts, as `convert -list font` names them (fonts-noto-cjk and DejaVu).
const (
	fontSans      = testFont
	fontSansBold  = "Noto-Sans-CJK-SC-Bold"
	fontSerif     = "Noto-Serif-CJK-SC"
	fontSerifBold = "Noto-Serif-CJK-SC-Bold"
	fontMono      = "DejaVu-Sans-Mono"
	fontMonoBold  = "DejaVu-Sans-Mono-Bold"
	fontVisa      = "DejaVu-Sans-Bold-Oblique"
)

// ensureDocumentFonts makes sure convert has every font above, installing
// fonts-dejavu-core (ensureTools installs the Noto CJK fonts) when it does not.
func ensureDocumentFonts(tb testing.TB, bin string) {
	tb.Helper()
	missing, err := missingFonts(bin)
	if err == nil && len(missing) > 0 {
		args := []string{"env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "fonts-dejavu-core"}
		if os.Geteuid() != 0 {
			args = append([]string{"sudo"}, args...)
		}
		if out, ierr := exec.Command(args[0], args[1:]...).CombinedOutput(); ierr != nil {
			tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), ierr, out)
		}
		missing, err = missingFonts(bin)
	}
	if err != nil || len(missing) > 0 {
		tb.Fatalf("fonts for the documents: %v missing (%v)", missing, err)
	}
}

// missingFonts returns the fonts above that convert does not list: convert
// would draw with another font, and only warn.
func missingFonts(bin string) ([]string, error) {
	out, err := exec.Command(bin, "-list", "font").Output()
	if err != nil {
		return nil, fmt.Errorf("convert -list font: %w", err)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(l), "Font: "); ok {
			listed[name] = true
		}
	}
	var missing []string
	for _, f := range []string{fontSans, fontSansBold, fontSerif, fontSerifBold, fontMono, fontMonoBold, fontVisa} {
		if !listed[f] {
			missing = append(missing, f)
		}
	}
	return missing, nil
}

// Colours of the printed text.
const (
	inkValue = "#141414"
	inkLabel = "#5f6b75" // the smaller grey labels of the ID card and driving licence
)

// canvas collects the convert operators that draw one document.
type canvas struct {
	size image.Point
	bg   string // the canvas image: xc:colour or gradient:from-to
	ops  []string
}

func newCanvas(w, h int, bg string) *canvas {
	return &canvas{size: image.Pt(w, h), bg: bg, ops: []string{"-stroke", "none"}}
}

// text draws s with its baseline's left end at x, y.
func (c *canvas) text(font string, pt int, fill string, x, y int, s string) {
	c.ops = append(c.ops, "-font", font, "-pointsize", fmt.Sprint(pt), "-fill", fill,
		"-annotate", fmt.Sprintf("+%d+%d", x, y), s)
}

// spaced draws s with extra space between the glyphs, as card numbers are printed.
func (c *canvas) spaced(font string, pt, kerning int, fill string, x, y int, s string) {
	c.ops = append(c.ops, "-kerning", fmt.Sprint(kerning))
	c.text(font, pt, fill, x, y, s)
	c.ops = append(c.ops, "-kerning", "0")
}

// draw adds an MVG primitive filled with fill.
func (c *canvas) draw(fill, primitive string) {
	c.ops = append(c.ops, "-fill", fill, "-draw", primitive)
}

// outline adds an MVG primitive stroked with colour, unfilled.
func (c *canvas) outline(colour string, width int, primitive string) {
	c.ops = append(c.ops, "-fill", "none", "-stroke", colour, "-strokewidth", fmt.Sprint(width),
		"-draw", primitive, "-stroke", "none")
}

// portrait draws the holder's photo: a grey head and shoulders in a box.
func (c *canvas) portrait(x0, y0, x1, y1 int) {
	cx, w, h := (x0+x1)/2, x1-x0, y1-y0
	c.draw("#cfd8de", fmt.Sprintf("rectangle %d,%d %d,%d", x0, y0, x1, y1))
	c.draw("#8d9aa3", fmt.Sprintf("ellipse %d,%d %d,%d 0,360", cx, y0+h*2/5, w/4, h/4))
	c.draw("#8d9aa3", fmt.Sprintf("ellipse %d,%d %d,%d 180,360", cx, y1, w*9/20, h/4))
}

// wrap splits s into lines of at most n characters.
func wrap(s string, n int) []string {
	var out []string
	for rs := []rune(s); len(rs) > 0; {
		k := min(n, len(rs))
		out = append(out, string(rs[:k]))
		rs = rs[k:]
	}
	return out
}

// drawIDFront lays out the front of a resident ID card at 10 px/mm (856×540).
func drawIDFront(name, sex, eth string, birth [3]int, addr, id string) *canvas {
	c := newCanvas(856, 540, "gradient:#e3ecf1-#f5efe2")
	c.portrait(590, 70, 800, 330)
	label := func(x, y int, s string) { c.text(fontSans, 24, inkLabel, x, y, s) }
	label(60, 100, "姓 名")
	c.text(fontSans, 32, inkValue, 155, 102, name)
	label(60, 165, "性 别")
	c.text(fontSans, 28, inkValue, 155, 166, sex)
	label(260, 165, "民 族")
	c.text(fontSans, 28, inkValue, 355, 166, eth)
	label(60, 230, "出 生")
	c.text(fontSans, 28, inkValue, 155, 231, fmt.Sprintf("%d 年 %d 月 %d 日", birth[0], birth[1], birth[2]))
	label(60, 295, "住 址")
	for i, l := range wrap(addr, 12) {
		c.text(fontSans, 28, inkValue, 155, 296+i*44, l)
	}
	label(60, 472, "公民身份号码")
	c.spaced(fontMono, 36, 5, inkValue, 260, 474, id)
	return c
}

// drawIDBack lays out the back of a resident ID card (856×540).
func drawIDBack(authority, validity string) *canvas {
	c := newCanvas(856, 540, "gradient:#e6eef0-#f3ede0")
	c.draw("#c8202a", "circle 140,145 140,60")
	c.draw("#f0c030", "circle 140,145 140,95")
	c.draw("#c8202a", "polygon 140,110 151,135 178,135 156,151 164,177 140,161 116,177 124,151 102,135 129,135")
	c.spaced(fontSansBold, 40, 10, "#222222", 290, 120, "中华人民共和国")
	c.spaced(fontSansBold, 64, 18, "#222222", 270, 235, "居民身份证")
	c.text(fontSans, 24, inkLabel, 150, 420, "签发机关")
	c.text(fontSans, 28, inkValue, 290, 421, authority)
	c.text(fontSans, 24, inkLabel, 150, 480, "有效期限")
	c.text(fontSans, 28, inkValue, 290, 481, validity)
	return c
}

// bankStyles are the card colours, darker than paper, as bank cards are.
var bankStyles = []string{
	"gradient:#0e2a57-#2a5ca8", "gradient:#4a0d14-#9c2330", "gradient:#0c3b2e-#1f7a5a",
	"gradient:#1c1c1c-#4d4d4d", "gradient:#3b2a0a-#8a6a2a",
}

// drawBankCard lays out a bank card (856×540): bank, chip, the number in
// groups of four in a monospace font with an embossed shadow, expiry,
// holder and network mark.
func drawBankCard(style, bank, kind, number, expiry, holder, network string) *canvas {
	c := newCanvas(856, 540, style)
	silver := "#ececec"
	c.text(fontSansBold, 40, "white", 70, 100, bank)
	c.text(fontSans, 26, silver, 700, 96, kind)
	c.draw("#d4af37", "roundrectangle 80,180 190,262 12,12")
	c.outline("#9c7f25", 2, "line 80,221 190,221")
	c.outline("#9c7f25", 2, "line 135,180 135,262")
	var groups []string
	for i := 0; i < len(number); i += 4 {
		groups = append(groups, number[i:min(i+4, len(number))])
	}
	grouped := strings.Join(groups, " ")
	c.text(fontMonoBold, 52, "#050505", 72, 373, grouped)
	c.text(fontMonoBold, 52, silver, 70, 370, grouped)
	c.text(fontSans, 16, silver, 300, 432, "VALID THRU")
	c.text(fontMono, 34, silver, 420, 440, expiry)
	c.text(fontMono, 30, silver, 70, 495, holder)
	switch network {
	case "unionpay":
		c.draw("#d6262b", "polygon 650,420 720,420 705,500 635,500")
		c.draw("#1a4f9c", "polygon 705,420 775,420 760,500 690,500")
		c.draw("#128a7a", "polygon 760,420 820,420 805,500 745,500")
		c.text(fontSansBold, 30, "white", 665, 470, "银联")
		c.text(fontSansBold, 14, "white", 700, 492, "UnionPay")
	case "visa":
		c.text(fontVisa, 60, "white", 640, 495, "VISA")
	case "mastercard":
		c.draw("#eb001b", "circle 700,460 700,415")
		c.draw("#f79e1b", "circle 765,460 765,415")
	}
	return c
}

// drawBizLicense lays out a business licence's original (正本) page, A5-ish
// (1200×850): title, credit code top left, two columns of labelled values.
func drawBizLicense(code, name, kind, rep, scope, capital, established, term, addr, issued string) *canvas {
	c := newCanvas(1200, 850, "xc:#fbf8f0")
	c.outline("#c8a86a", 10, "rectangle 25,25 1175,825")
	c.outline("#c8a86a", 2, "rectangle 40,40 1160,810")
	c.text(fontSansBold, 22, "#222222", 80, 100, "统一社会信用代码")
	c.text(fontSans, 28, inkValue, 80, 140, code)
	c.draw("#222222", "rectangle 1010,70 1120,180")
	c.draw("#fbf8f0", "rectangle 1025,85 1105,165")
	c.draw("#222222", "rectangle 1045,105 1085,145")
	c.spaced(fontSerifBold, 80, 30, "#8b1a1a", 390, 230, "营业执照")
	c.text(fontSans, 24, "#222222", 550, 275, "（正 本）")
	label := func(x, y int, s string) { c.text(fontSansBold, 26, "#222222", x, y, s) }
	value := func(x, y int, s string) { c.text(fontSerif, 28, inkValue, x, y, s) }
	left := []struct{ label, value string }{{"名 称", name}, {"类 型", kind}, {"法定代表人", rep}}
	for i, r := range left {
		label(90, 350+i*70, r.label)
		value(250, 351+i*70, r.value)
	}
	label(90, 560, "经营范围")
	for i, l := range wrap(scope, 12) {
		value(250, 561+i*42, l)
	}
	right := []struct{ label, value string }{{"注册资本", capital}, {"成立日期", established}, {"营业期限", term}}
	for i, r := range right {
		label(660, 350+i*70, r.label)
		value(800, 351+i*70, r.value)
	}
	label(660, 560, "住 所")
	for i, l := range wrap(addr, 12) {
		value(800, 561+i*42, l)
	}
	label(660, 740, "登记机关")
	c.outline("#d02020", 5, "circle 900,730 900,660")
	value(780, 790, issued)
	return c
}

// drawDrivingLicence lays out the main page of a driving licence
// (1000×680) with its bilingual labels.
func drawDrivingLicence(id, name, sex, addr, birth, firstIssue, class, validity string) *canvas {
	c := newCanvas(1000, 680, "gradient:#eef1f4-#e2e8ee")
	c.text(fontSansBold, 38, "#222222", 215, 70, "中华人民共和国机动车驾驶证")
	c.text(fontSans, 20, "#333333", 250, 105, "Driving License of the People's Republic of China")
	label := func(x, y int, s string) { c.text(fontSans, 20, inkLabel, x, y, s) }
	value := func(x, y int, s string) { c.text(fontSans, 28, inkValue, x, y, s) }
	label(60, 165, "证号")
	c.spaced(fontMono, 30, 3, inkValue, 130, 167, id)
	label(60, 225, "姓名 Name")
	value(200, 226, name)
	label(400, 225, "性别 Sex")
	value(500, 226, sex)
	label(590, 225, "国籍 Nationality")
	value(770, 226, "中国")
	label(60, 285, "住址 Address")
	for i, l := range wrap(addr, 18) {
		value(210, 286+i*42, l)
	}
	c.portrait(770, 300, 940, 530)
	label(60, 400, "出生日期 Date of Birth")
	value(320, 401, birth)
	label(60, 455, "初次领证日期 Date of First Issue")
	value(420, 456, firstIssue)
	label(60, 510, "准驾车型 Class")
	value(250, 511, class)
	label(60, 565, "有效期限 Valid Period")
	value(300, 566, validity)
	return c
}

// photo is how one document is "photographed" into a 640×360 frame.
type photo struct {
	width   int     // the document's width in the frame
	angle   float64 // rotation, degrees
	sigma   float64 // Gaussian blur
	quality int     // JPEG quality
	dx, dy  int     // offset of the document's centre from the frame's
	bg      string  // frame background, an ImageMagick gradient
	noise   float64 // background noise (attenuation); 0 for a plain background
	seed    int     // ImageMagick's random seed, for the noise
}

// frameBackgrounds are desks, walls and hands behind the document.
var frameBackgrounds = []string{
	"gradient:#8a8f96-#6a6f76", "gradient:#b59a7a-#8c6f52", "gradient:#3d4650-#2a3038",
	"gradient:#d8d4cc-#b8b2a8", "gradient:#c9a48a-#a07a60",
}

// renderDocument runs one convert: it draws the document, writes the clean
// full-scale image when full is set, and writes the photographed frame. It
// returns the decoded frame and full-scale image (nil when not asked for).
func renderDocument(ctx context.Context, bin, dir, name string, c *canvas, p photo, full bool) (frame, clean image.Image, err error) {
	framePath := filepath.Join(dir, name+".jpg")
	fullPath := filepath.Join(dir, name+".png")
	args := append([]string{"-size", fmt.Sprintf("%dx%d", c.size.X, c.size.Y), c.bg}, c.ops...)
	if full {
		args = append(args, "-write", fullPath)
	}
	bg := []string{"(", "-size", "640x360", p.bg}
	if p.noise > 0 {
		bg = append(bg, "-seed", fmt.Sprint(p.seed), "-attenuate", fmt.Sprintf("%.2f", p.noise), "+noise", "Gaussian")
	}
	args = append(args, "-resize", fmt.Sprintf("%dx", p.width), "-alpha", "set", "-background", "none",
		"-rotate", fmt.Sprintf("%.2f", p.angle))
	args = append(append(args, bg...), ")", "+swap", "-gravity", "center",
		"-geometry", fmt.Sprintf("%+d%+d", p.dx, p.dy), "-composite", "-alpha", "off",
		"-blur", fmt.Sprintf("0x%.2f", p.sigma), "-quality", fmt.Sprint(p.quality), framePath)
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("convert %s: %w\n%s", name, err, out)
	}
	if frame, err = decodeFile(framePath); err != nil {
		return nil, nil, err
	}
	if full {
		if clean, err = decodeFile(fullPath); err != nil {
			return nil, nil, err
		}
	}
	return frame, clean, nil
}

func decodeFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return img, nil
}

// runeDiff describes where got differs from want, position by position when
// they have the same length ("pos 7 1→7"), or both whole strings otherwise.
func runeDiff(want, got string) string {
	w, g := []rune(want), []rune(got)
	if len(w) != len(g) {
		return fmt.Sprintf("length %d, want %d", utf8.RuneCountInString(got), len(w))
	}
	var d []string
	for i := range w {
		if w[i] != g[i] {
			d = append(d, fmt.Sprintf("pos %d %c→%c", i+1, w[i], g[i]))
		}
	}
	return strings.Join(d, ", ")
}

package ocr

import (
	"context"
	"fmt"
	"image"
	"testing"
)

// snapshotImage renders a 640×360 frame like a video snapshot of a card: a few
// lines of 24-28 px text on a light background.
func snapshotImage(tb testing.TB) image.Image {
	tb.Helper()
	return render(tb, "snapshot.jpg", "-size", "640x360", "xc:#f4f1ea", "-font", testFont, "-fill", "#202020",
		"-pointsize", "28", "-annotate", "+40+70", "中华人民共和国居民身份证",
		"-pointsize", "24", "-annotate", "+40+140", "姓名 张三  性别 男",
		"-annotate", "+40+200", "出生 1990年1月1日",
		"-annotate", "+40+300", "公民身份号码 110101199001011234",
		"-quality", "85")
}

// photoImage renders a 1600×1200 document-like page: a title and 14 lines of
// mixed text, as a phone photo of a claim form would hold.
func photoImage(tb testing.TB) image.Image {
	tb.Helper()
	args := []string{"-size", "1600x1200", "xc:white", "-font", testFont, "-fill", "black",
		"-pointsize", "56", "-annotate", "+120+130", "机动车辆保险索赔申请书", "-pointsize", "36"}
	for i := range 14 {
		args = append(args, "-annotate", fmt.Sprintf("+120+%d", 230+i*66),
			fmt.Sprintf("第%d项 Claim item %02d 金额 %d.00 元 日期 2026-03-%02d", i+1, i+1, 1000+37*i, i+1))
	}
	return render(tb, "photo.jpg", append(args, "-quality", "85")...)
}

func benchmarkRead(b *testing.B, img image.Image) {
	e := sharedEngine(b)
	ctx := context.Background()
	lines, err := e.Read(ctx, img) // warm up, and say what is being read
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%v: %d lines", img.Bounds().Size(), len(lines))
	for b.Loop() {
		if _, err := e.Read(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkReadSnapshot reads a 640×360 video snapshot with four lines.
func BenchmarkReadSnapshot(b *testing.B) { benchmarkRead(b, snapshotImage(b)) }

// BenchmarkReadPhoto reads a 1600×1200 photo of a 15-line form.
func BenchmarkReadPhoto(b *testing.B) { benchmarkRead(b, photoImage(b)) }

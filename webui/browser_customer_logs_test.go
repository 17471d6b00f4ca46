//go:build browser

// The SDK's client logger against the real binary: lines logged while the server is down reach it once it is back,
// exactly once, on the same page (retried with backoff) and from the next page load (the seed's logger lost them).

package webui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// logEntries reads a client session's log entries (GET /api/logs, as the operator).
func (s *server) logEntries(session string) ([]map[string]any, error) {
	res, err := http.Get(s.url + "/api/logs?session=" + session)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/logs: status %d, %v", res.StatusCode, err)
	}
	return out.Entries, nil
}

// TestBrowserLogsSurviveServerRestart: the logger posts while the server is up; lines logged while it is down
// are kept and arrive once it is back, exactly once: on the same page (retried with backoff), and from a page
// reloaded while the server was down (resent by the next page load).
func TestBrowserLogsSurviveServerRestart(t *testing.T) {
	srv := startRestartable(t)
	b := newBrowser(t, srv.server)
	_, link := srv.newCall(t, "CLM-LOGS", "Li Lei")
	page := b.open("customer", link)
	page.waitJS("pre-join", `__stoa.state === 'prejoin' && !!__stoa.logger`)
	session := mustEval[string](page, `__stoa.logger.session`)
	page.waitUntil("the logger posts while the server is up", func() (bool, error) {
		entries, err := srv.logEntries(session)
		ok := err == nil && countType(entries, "prejoin") == 1
		return ok, seen(ok, fmt.Sprintf("%d entries, %v", len(entries), err))
	})

	logLines := func(from, to int) {
		mustEval[bool](page, fmt.Sprintf(`(() => { for (let n = %d; n <= %d; n++) __stoa.logger.warn('while-down', { n }); return true; })()`, from, to))
	}
	storedBatches := `Object.keys(localStorage).filter((k) => k.startsWith('stoa.logs.')).length`

	// 1. The same page: two batches fail while the server is down, are kept in localStorage, and are resent.
	srv.stop()
	logLines(1, 3)
	page.waitJS("the first batch failed and is kept", `__stoa.logger.stats.failed >= 1 && `+storedBatches+` >= 1`)
	logLines(4, 6)
	page.waitJS("the second batch is kept too", storedBatches+` >= 2`)
	srv.start()
	page.waitUntil("lines 1–6 arrive after the restart", func() (bool, error) {
		entries, err := srv.logEntries(session)
		n := countType(entries, "while-down")
		ok := err == nil && n >= 6
		return ok, seen(ok, fmt.Sprintf("%d of 6 lines, %v", n, err))
	})
	page.waitJS("nothing is left in localStorage", `__stoa.logger.unsent === 0 && `+storedBatches+` === 0`)

	// 2. The page goes away while the server is down (its pagehide puts the buffered lines in localStorage), and
	// the next page load, once the server is back, sends what it left.
	srv.stop()
	logLines(7, 9)
	page.waitJS("the batch failed and is kept", storedBatches+` >= 1`)
	logLines(10, 12) // still in the buffer
	if err := chromedp.Do(page.ctx, chromedp.Navigate("about:blank")); err != nil {
		b.fail("leave the page: %v", err)
	}
	srv.start()
	if err := chromedp.Do(page.ctx, chromedp.Navigate(srv.url+link)); err != nil {
		b.fail("open the link again: %v", err)
	}
	page.waitJS("the page is up again", `__stoa.state === 'prejoin' && !!__stoa.logger`)
	if next := mustEval[string](page, `__stoa.logger.session`); next == session {
		t.Fatalf("the new page kept session %s", session)
	}
	page.waitUntil("lines 7–12 arrive, sent by the new page", func() (bool, error) {
		entries, err := srv.logEntries(session)
		n := countType(entries, "while-down")
		ok := err == nil && n >= 12
		return ok, seen(ok, fmt.Sprintf("%d of 12 lines, %v", n, err))
	})
	page.waitJS("nothing is left in localStorage", storedBatches+` === 0`)

	// Exactly once: every line once, no entry twice.
	entries, err := srv.logEntries(session)
	if err != nil {
		t.Fatal(err)
	}
	seenN := map[int]int{}
	seenEntry := map[string]int{}
	for _, e := range entries {
		key := fmt.Sprint(e["ts"], e["type"], e["message"], e["level"])
		seenEntry[key]++
		if e["type"] == "while-down" {
			m, _ := e["message"].(map[string]any)
			n, _ := m["n"].(float64)
			seenN[int(n)]++
		}
	}
	for n := 1; n <= 12; n++ {
		if seenN[n] != 1 {
			t.Errorf("line %d stored %d times, want once", n, seenN[n])
		}
	}
	for key, c := range seenEntry {
		if c > 1 {
			t.Errorf("entry %s stored %d times", key, c)
		}
	}
	report(t, "client logs across two server restarts: %d entries of session %s, each once", len(entries), session)
}

// countType counts the log entries of a type.
func countType(entries []map[string]any, typ string) int {
	n := 0
	for _, e := range entries {
		if e["type"] == typ {
			n++
		}
	}
	return n
}

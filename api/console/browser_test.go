package console_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
)

// chromiumPath finds the browser: $HERALD_CHROMIUM, else Debian's chromium.
func chromiumPath() string {
	if p := os.Getenv("HERALD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshotDir is where the test writes its PNGs: $HERALD_SCREENSHOTS, else
// one fixed folder under the temp dir (overwritten by each run).
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("HERALD_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "herald-console-screenshots")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	_ = os.Remove(filepath.Join(dir, "failure.png")) // from an earlier run
	return dir
}

// browser is one headless Chromium tab for a test.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
	url string
	// problems are uncaught exceptions and console errors of the page.
	problems atomic.Pointer[[]string]
}

// needChromium returns the browser's path, or skips the test without one;
// in CI (CI set) a missing browser fails it.
func needChromium(t *testing.T) string {
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (deploy/local/setup.sh installs it); CI must run the browser test")
		}
		t.Skip("chromium is not installed: run `make setup` (apt-get install chromium) to run the console's browser test")
	}
	return path
}

func newBrowser(t *testing.T, path, url string) *browser {
	// The whole browser session is bounded: a stuck page fails the test
	// instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(acancel)
	b := &browser{t: t, dir: screenshotDir(t), url: url}
	b.problems.Store(&[]string{})
	add := func(s string) {
		for {
			old := b.problems.Load()
			next := append(append([]string(nil), *old...), s)
			if b.problems.CompareAndSwap(old, &next) {
				return
			}
		}
	}
	tctx, tcancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			add(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				add("console.error")
			}
		}
	}))
	t.Cleanup(tcancel)
	b.ctx = tctx
	require.NoError(t, chromedp.Do(tctx), "start chromium at %s", path)
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, steps...))
}

// wait polls a JavaScript condition until it is true (or the browser
// session's deadline passes).
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	// An element not there yet is "not yet", not an error.
	guarded := `(() => { try { return !!(` + expr + `) } catch (e) { return false } })()`
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](guarded, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		// What the page showed, for the failure message.
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(filepath.Join(b.dir, "failure.png"), buf, 0o644)
		}
		b.t.Fatalf("waiting for %s (%s): %v; the page (failure.png) shows:\n%s\nproblems: %v", what, expr, err, text, *b.problems.Load())
	}
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	require.NoError(b.t, err, expr)
	return v
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.TextContent(sel))
	require.NoError(b.t, err, sel)
	return v
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	// Let fonts and layout settle (a frame), then the whole page as PNG.
	b.wait("fonts", `document.fonts.status === "loaded"`)
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	p := filepath.Join(b.dir, name+".png")
	require.NoError(b.t, os.WriteFile(p, buf, 0o644))
	b.t.Logf("screenshot: %s", p)
}

func (b *browser) noProblems() {
	b.t.Helper()
	require.Empty(b.t, *b.problems.Load(), "the page threw or logged errors")
}

// overflowing names the elements wider than the window, when the page
// scrolls sideways.
const overflowing = `document.documentElement.scrollWidth <= window.innerWidth ? "" :
	[...document.querySelectorAll("main *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + "." + e.className).join(", ")`

// The console end to end in a real Chromium: sign in, find the failed
// messages, open one, reprocess it and see it turn sent; bulk reprocess
// the rest with a dry run first; the live mode; pause a job; the overview;
// a narrow screen; a key without scopes; sign out.
func TestConsoleInChromium(t *testing.T) {
	chromium := needChromium(t)
	var failing atomic.Bool
	failing.Store(true)
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if strings.HasPrefix(r.URL.Path, "/orders/flaky") && failing.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"upstream maintenance"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	for i := range 3 {
		h.WaitStatus(h.SendCallback(fmt.Sprintf("ok-%d", i), nil), "sent", 15*time.Second)
	}
	const secret = "Bearer s3cr3t-value-never-shown"
	flaky1 := h.SendCallback("flaky-1", map[string]any{"input": map[string]any{
		"params":  map[string]any{"id": "flaky-1"},
		"headers": map[string]any{"Authorization": secret, "X-Trace": "trace-42"},
		"body":    map[string]any{"order": "flaky-1", "password": "hunter2"},
	}})
	flaky2 := h.SendCallback("flaky-2", nil)
	h.WaitStatus(flaky1, "failed", 15*time.Second)
	h.WaitStatus(flaky2, "failed", 15*time.Second)
	job := h.Do("POST", "/v1/notifications/dispatch", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "event": "orders",
		"input":    map[string]any{"callback": map[string]any{"params": map[string]any{"id": "digest"}}},
		"schedule": map[string]any{"every": 3600000, "start_at": time.Now().Add(time.Hour).UnixMilli(), "limit": 5}})
	require.Equal(t, http.StatusCreated, job.Status, string(job.Body))
	jobID := job.JSON()["job_id"].(string)

	b := newBrowser(t, chromium, h.URL)
	t.Logf("screenshots go to %s", b.dir)

	// Sign-in: a wrong key is refused; the right one, typed and submitted
	// with Enter, signs in. The key is never in the URL.
	b.do(chromedp.Navigate(h.URL + "/console"))
	b.wait("the sign-in form", `!!document.querySelector("#api-key") && document.activeElement.id === "api-key"`)
	b.screenshot("signin")
	b.do(chromedp.SendKeys(chromedp.CSS("#api-key"), "hk_wrong\n"))
	b.wait("the refusal", `document.querySelector(".form-error").textContent.includes("not accepted")`)
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#api-key").value = ""`), chromedp.SendKeys(chromedp.CSS("#api-key"), apptest.KeyAcme+"\n"))
	b.wait("the workspace in the header", `document.querySelector("#who").textContent.includes("acme")`)
	require.Equal(t, apptest.KeyAcme, b.eval(`sessionStorage.getItem("herald.console.key")`))
	require.Empty(t, b.eval(`localStorage.length ? "x" : ""`), "nothing in localStorage")
	require.NotContains(t, b.eval(`location.href`), apptest.KeyAcme)

	// Explorer: filter to failed messages.
	b.do(chromedp.Navigate(h.URL + "/console/#/messages"))
	b.wait("the messages", `document.querySelectorAll("table.messages tbody tr").length === 5`)
	require.Equal(t, "5 messages", b.text(".total"))
	// A bad filter: the API's field error lands on its control.
	b.do(chromedp.SendKeys(chromedp.CSS("#f-env"), "no spaces"), chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)))
	b.wait("the env error", `document.querySelector("#f-env").getAttribute("aria-invalid") === "true" && !!document.querySelector("#f-env-error")`)
	require.Contains(t, b.text(".form-error"), "env:")
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#f-env").value = ""`))
	b.do(chromedp.SetValue(chromedp.CSS("#f-status"), "failed"), chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)))
	b.wait("the failed messages", `document.querySelector(".total").textContent === "2 messages"`)
	require.Contains(t, b.eval(`location.hash`), "status=failed")
	require.Equal(t, "Page 1 of 1", b.text(".page-info"))
	b.screenshot("explorer")

	// Cursor paging, two per page: older, older, newer.
	b.do(chromedp.Navigate(h.URL + "/console/#/messages?limit=2"))
	b.wait("page 1", `document.querySelector(".page-info").textContent === "Page 1 of 3"`)
	firstRows := b.eval(`[...document.querySelectorAll("table.messages tbody tr")].map(r => r.innerText).join("|")`)
	b.do(chromedp.Click(`//button[text()="Older →"]`))
	b.wait("page 2", `document.querySelector(".page-info").textContent === "Page 2 of 3"`)
	secondRows := b.eval(`[...document.querySelectorAll("table.messages tbody tr")].map(r => r.innerText).join("|")`)
	require.NotEqual(t, firstRows, secondRows)
	b.do(chromedp.Click(`//button[text()="Older →"]`))
	b.wait("the last page", `document.querySelector(".page-info").textContent === "Page 3 of 3" && document.querySelectorAll("table.messages tbody tr").length === 1`)
	b.wait("Older to be disabled", `document.querySelector(".pager button:last-child").disabled`)
	b.do(chromedp.Click(`//button[text()="← Newer"]`))
	b.wait("page 2 again", `document.querySelector(".page-info").textContent === "Page 2 of 3"`)
	require.Equal(t, secondRows, b.eval(`[...document.querySelectorAll("table.messages tbody tr")].map(r => r.innerText).join("|")`))

	// Detail: open flaky-1; its credentials are not shown.
	b.do(chromedp.Navigate(h.URL + "/console/#/messages?status=failed"))
	b.wait("the failed messages", `document.querySelector(".total").textContent === "2 messages"`)
	b.do(chromedp.Click(chromedp.CSS(`a[href="#/messages/` + flaky1 + `"]`)))
	b.wait("the attempts", `document.querySelectorAll("table.attempts tbody tr").length === 4`)
	page := b.eval(`document.body.innerText`)
	require.NotContains(t, page, "s3cr3t")
	require.NotContains(t, page, "hunter2")
	require.Contains(t, page, "[redacted]")
	require.Contains(t, page, "trace-42", "other headers are shown")
	require.Contains(t, page, "upstream maintenance", "the response body")
	require.Contains(t, page, "HTTP 503")
	require.Equal(t, "failed", b.text(".status-line .badge"))
	// Reprocess: the endpoint is back; the page shows sent without a reload.
	failing.Store(false)
	b.wait("the Reprocess button", `(() => { const x = [...document.querySelectorAll(".actions button")].find(b => b.textContent === "Reprocess"); return !!x && !x.disabled })()`)
	b.do(chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`))
	b.do(chromedp.Click(`//button[text()="Reprocess"]`))
	b.wait("the message to turn sent", `document.querySelector(".status-line .badge").textContent === "sent"`)
	require.Equal(t, "true", b.eval(`String(window.__notReloaded)`), "no reload")
	require.Contains(t, b.text("ol.timeline"), "Reprocess #1 requested")
	require.Equal(t, "sent", h.Message(apptest.KeyAcme, flaky1)["status"])
	b.screenshot("detail")

	// Back to the same search; bulk reprocess the rest after a dry run.
	b.do(chromedp.Click(chromedp.CSS(`.crumbs a`)))
	b.wait("the remaining failed message", `document.querySelector(".total").textContent === "1 message"`)
	require.Equal(t, "failed", b.eval(`document.querySelector("#f-status").value`), "the filter is kept")
	b.do(chromedp.Click(`//button[text()="Reprocess failed…"]`))
	b.wait("the dry-run count", `!!document.querySelector("dialog[open]") && document.querySelector("dialog[open]").textContent.includes("Dry run: 1 failed message matches")`)
	b.screenshot("bulk-confirm")
	b.do(chromedp.Click(`//dialog//button[text()="Reprocess 1"]`))
	b.wait("the bulk result", `document.querySelector("dialog[open] [role=status]").textContent.includes("Queued 1 of 1 again")`)
	b.do(chromedp.Click(`//dialog//button[text()="Close"]`))
	h.WaitStatus(flaky2, "sent", 15*time.Second)

	// Live mode: a new message appears without a reload.
	b.do(chromedp.Navigate(h.URL + "/console/#/messages"))
	b.wait("the list", `document.querySelector(".total").textContent === "5 messages"`)
	b.do(chromedp.Click(chromedp.CSS("#live")))
	b.wait("live mode to have loaded once", `document.querySelector(".live-status").textContent.includes("checked")`)
	fresh := h.SendCallback("live-1", nil)
	b.wait("the new message in live mode", `!!document.querySelector('tr.new a[href="#/messages/`+fresh+`"]')`)

	// Jobs: pause the job.
	b.do(chromedp.Navigate(h.URL + "/console/#/jobs"))
	b.wait("the job", `!!document.querySelector("#job-`+jobID+`")`)
	b.do(chromedp.Click(chromedp.CSS(`button[aria-label="Pause job ` + jobID + `"]`)))
	b.wait("the job to show paused", `document.querySelector("#job-`+jobID+` .badge").textContent === "paused"`)
	require.Equal(t, "paused", h.Do("GET", "/v1/jobs/"+jobID, apptest.KeyAcme, nil).JSON()["status"])
	b.wait("Resume to be enabled", `!document.querySelector('button[aria-label="Resume job `+jobID+`"]').disabled`)
	b.screenshot("jobs")

	// Overview: the counts of the last hour, the queues and breakers.
	b.do(chromedp.Navigate(h.URL + "/console/#/overview"))
	b.wait("the charts", `document.querySelectorAll(".chart-table").length === 2 && !!document.querySelector("#h-breakers + div table")`)
	sent := h.Do("GET", "/v1/messages?type=callback&status=sent", apptest.KeyAcme, nil).JSON()["total"].(float64)
	row := b.eval(`[...document.querySelectorAll("#chart-hour + table tbody tr")].find(r => r.querySelector("th").textContent === "callback").innerText`)
	require.Contains(t, row, fmt.Sprint(sent), "the last hour's sent callbacks")
	require.Contains(t, b.text("#h-breakers + div"), "closed")
	b.screenshot("overview")

	// A narrow screen: no horizontal scrolling, tables as cards.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	b.do(chromedp.Navigate(h.URL + "/console/#/messages"))
	b.wait("the list", `document.querySelectorAll("table.messages tbody tr").length >= 6`)
	b.screenshot("explorer-narrow")
	require.Equal(t, "", b.eval(overflowing),
		"no horizontal scroll at 390px; these stick out")
	b.do(chromedp.Navigate(h.URL + "/console/#/messages/" + flaky1))
	b.wait("the attempts", `document.querySelectorAll("table.attempts tbody tr").length === 5`)
	b.screenshot("detail-narrow")
	require.Equal(t, "", b.eval(overflowing), "no horizontal scroll at 390px; these stick out")
	b.do(chromedp.EmulateViewport(1280, 900))

	// Sign out: the key is gone from the tab.
	b.do(chromedp.Click(chromedp.CSS("#signout")))
	b.wait("the sign-in form", `!!document.querySelector("#api-key")`)
	require.Equal(t, "0", b.eval(`String(sessionStorage.length)`))

	// A read-only key sees no Reprocess button and no jobs.
	b.do(chromedp.SendKeys(chromedp.CSS("#api-key"), apptest.KeyAcmeRead+"\n"))
	b.wait("signed in", `document.querySelector("#who").textContent.includes("reader")`)
	b.do(chromedp.Navigate(h.URL + "/console/#/messages/" + flaky1))
	b.wait("the message", `!!document.querySelector("table.attempts")`)
	require.Equal(t, "false", b.eval(`String([...document.querySelectorAll("button")].some(b => b.textContent.startsWith("Reprocess")))`))
	b.do(chromedp.Navigate(h.URL + "/console/#/jobs"))
	b.wait("the scope notice", `document.querySelector("main").textContent.includes("lacks the jobs:read scope")`)
	b.noProblems()
}

"""avad serve's web UI in real headless Chromium (Debian `chromium`, driven by Playwright): sign in with a token,
upload a clip from fixtures/media, wait for its report, check the timeline is drawn and that clicking it seeks the
video; a job whose file name is `<script>alert(1)</script>.mp4` is shown as text and runs nothing (no dialog, no
extra script element); the cameras page (the server runs with `--watch`) shows each camera with its source
redacted, live scores and the recent events as the stream brings them; no Content-Security-Policy violation
anywhere. Saves a screenshot of each page.

Run by scripts/serve_ui_browser.sh (which makes the venv), itself run by crates/avad-cli/tests/serve_ui.rs:

    python ui_test.py URL TOKEN CLIP SCREENSHOT_DIR
"""

import json
import os
import sys
import time
import urllib.parse
import urllib.request

from playwright.sync_api import expect, sync_playwright

URL, TOKEN, CLIP, SHOTS = sys.argv[1:5]
CHROMIUM = os.environ.get("AVAD_CHROMIUM", "/usr/bin/chromium")
XSS = "<script>alert(1)</script>.mp4"


def api_submit(name, data):
    req = urllib.request.Request(
        URL + "/v1/jobs?name=" + urllib.parse.quote(name, safe=""),
        data=data,
        method="POST",
        headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 202, r.status
        return json.load(r)["id"]


def wait_js(page, expression, timeout_s):
    """Polls `expression` with page.evaluate until it is truthy. (Playwright's wait_for_function compiles its
    predicate with eval inside the page, which the UI's Content-Security-Policy forbids, as it should.)"""
    until = time.monotonic() + timeout_s
    while True:
        if page.evaluate(expression):
            return
        if time.monotonic() > until:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


def main():
    os.makedirs(SHOTS, exist_ok=True)
    if not os.path.exists(CHROMIUM):
        sys.exit(f"ui_test: {CHROMIUM} is missing: install the Debian package `chromium`")
    dialogs, csp, errors = [], [], []
    # A job named like an HTML payload, submitted through the API (no file system allows `/` in a file name).
    xss_id = api_submit(XSS, b"not a video: this job fails, and its name must still be shown as text")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Sign in: a wrong token is refused, the right one opens the job list.
        page.goto(URL + "/")
        expect(page.locator("#view-signin")).to_be_visible()
        page.fill("#token", "avad_wrong")
        page.click("#signin-form button[type=submit]")
        expect(page.locator("#signin-error")).to_have_text("This token is not valid.")
        page.fill("#token", TOKEN)
        page.screenshot(path=os.path.join(SHOTS, "signin.png"))
        page.click("#signin-form button[type=submit]")
        expect(page.locator("#view-jobs")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('avad_token')") == TOKEN

        # The HTML-looking name is text: the cell's text is the name itself, and no script element was added.
        row = page.locator(f"tr[data-id='{xss_id}'] td.file-name")
        expect(row).to_have_text(XSS)
        assert page.locator("tr[data-id='%s'] td.file-name script" % xss_id).count() == 0
        assert page.locator("script").count() == 1, "only app.js"

        # Upload a clip from fixtures/media through the page.
        page.set_input_files("#file", CLIP)
        page.click("#upload-button")
        expect(page.locator("#upload-status")).to_contain_text("Uploaded", timeout=60_000)
        name = os.path.basename(CLIP)
        clip_row = page.locator("#jobs tbody tr", has=page.locator("td.file-name", has_text=name)).first
        expect(clip_row).to_be_visible()
        clip_id = clip_row.get_attribute("data-id")
        # The list polls: wait until it shows the job done.
        expect(page.locator(f"tr[data-id='{clip_id}']")).to_have_attribute("data-status", "done", timeout=240_000)
        expect(page.locator(f"tr[data-id='{xss_id}']")).to_have_attribute("data-status", "failed", timeout=60_000)
        page.screenshot(path=os.path.join(SHOTS, "jobs.png"), full_page=True)

        # The report: the timeline is drawn, the video plays from a media link, clicking the timeline seeks.
        page.click(f"tr[data-id='{clip_id}'] a")
        expect(page.locator("#report-body")).to_be_visible(timeout=30_000)
        expect(page.locator("#report-title")).to_have_text(name)
        painted = page.evaluate("""() => {
            const c = document.getElementById('timeline');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let red = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i + 1] < 90 && d[i + 2] < 90) red++;
            return red;
        }""")
        assert painted > 100, f"the score line is not drawn ({painted} red pixels)"
        curves = page.evaluate("""() => {
            const c = document.getElementById('classes');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let ink = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 600) ink++;
            return ink;
        }""")
        assert curves > 100, f"the class curves are not drawn ({curves} pixels)"
        assert page.locator("#legend .legend-item").count() >= 1
        wait_js(page, "document.getElementById('video').readyState >= 1", 30)
        duration = page.evaluate("document.getElementById('video').duration")
        assert duration > 1, duration
        before = page.evaluate("document.getElementById('video').currentTime")
        box = page.locator("#timeline").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
        wait_js(page, "Math.abs(document.getElementById('video').currentTime - %f) > 1" % before, 10)
        now = page.evaluate("document.getElementById('video').currentTime")
        # 60 % of the timeline is 60 % of the scored length (the last snippet's end, about the video's length).
        assert abs(now - 0.6 * duration) < 0.15 * duration, (before, now, duration)
        wait_js(page, "!document.getElementById('video').seeking && document.getElementById('video').readyState >= 2",
                10)
        page.screenshot(path=os.path.join(SHOTS, "report.png"), full_page=True)

        # The report of the HTML-named job shows its name as text too.
        page.goto(URL + "/ui/#/jobs/" + xss_id)
        expect(page.locator("#report-title")).to_have_text(XSS)
        expect(page.locator("#report-status")).to_contain_text("failed")
        assert page.locator("script").count() == 1
        page.screenshot(path=os.path.join(SHOTS, "failed-job.png"), full_page=True)

        # The cameras page (the server runs with --watch): a card per camera, the source without its password, live
        # scores from the event stream, the strip of scores drawn, and the recent events, which the stream adds as
        # they happen (no reload).
        page.click("#nav-cameras")
        expect(page.locator("#view-cameras")).to_be_visible()
        expect(page.locator(".camera")).to_have_count(2)
        expect(page.locator(".camera[data-name='yard'] .name")).to_have_text("yard")
        gate = page.locator(".camera[data-name='gate'] .source")
        expect(gate).to_have_text("rtsp://admin:***@127.0.0.1:9/stream1?token=***")
        assert "hunter2" not in page.content()
        expect(page.locator("#live-status")).to_have_text("live", timeout=30_000)
        seen = int(page.locator(".camera[data-name='yard']").get_attribute("data-scores"))
        wait_js(page, "Number(document.querySelector(\".camera[data-name='yard']\").dataset.scores) >= %d" % max(seen + 5, 30),
                60)
        expect(page.locator(".camera[data-name='yard'] .state")).to_have_text("live")
        expect(page.locator(".camera[data-name='gate'] .state")).to_have_text("idle")
        score = float(page.locator(".camera[data-name='yard'] .score").text_content())
        assert 0 <= score <= 1, score
        spark = page.evaluate("""() => {
            const c = document.querySelector(".camera[data-name='yard'] canvas.spark");
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let red = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i + 1] < 90 && d[i + 2] < 90) red++;
            return red;
        }""")
        assert spark > 50, f"the score strip is not drawn ({spark} red pixels)"
        # Events: the rows on the page are the API's events, and the stream adds or ends one while the page stays.
        before = page.evaluate("""() => Array.from(document.querySelectorAll('#camera-events tbody tr'))
            .map((r) => r.dataset.eventId + '/' + r.dataset.ended).join(',')""")
        wait_js(page, """Array.from(document.querySelectorAll('#camera-events tbody tr'))
            .map((r) => r.dataset.eventId + '/' + r.dataset.ended).join(',') !== %s""" % json.dumps(before), 240)
        rows = page.evaluate("""() => Array.from(document.querySelectorAll('#camera-events tbody tr'))
            .map((r) => [r.dataset.eventId, r.dataset.ended, r.cells[0].textContent, r.cells[1].textContent])""")
        assert rows, "no event rows"
        req = urllib.request.Request(URL + "/v1/events?limit=100", headers={"Authorization": "Bearer " + TOKEN})
        with urllib.request.urlopen(req, timeout=30) as r:
            stored = {e["event_id"]: e for e in reversed(json.load(r)["events"])}  # the newest message wins
        for event_id, ended, camera, label in rows:
            assert camera == "yard", rows
            assert label, rows
            if event_id in stored:
                assert stored[event_id]["label"] == label or ended == "false", (rows, stored[event_id])
        assert any(r[0] in stored for r in rows), (rows, list(stored))
        page.screenshot(path=os.path.join(SHOTS, "cameras.png"), full_page=True)
        # A reload keeps the token and the page, and fills the events from the stored ones.
        page.reload()
        expect(page.locator("#view-cameras")).to_be_visible()
        expect(page.locator("#camera-events tbody tr").first).to_be_visible(timeout=10_000)

        # Signing out forgets the token.
        page.click("#signout")
        expect(page.locator("#view-signin")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('avad_token')") is None
        browser.close()
    time.sleep(0.2)
    assert not dialogs, f"a dialog fired: {dialogs}"
    assert not csp, f"Content-Security-Policy violations: {csp}"
    assert not errors, f"page errors: {errors}"
    print(f"ui_test: passed (seeked to {now:.1f} s of {duration:.1f} s; screenshots in {SHOTS})")


if __name__ == "__main__":
    main()

"""The app deployed as the README says: DEBUG off, the documented environment
(docs/deploy/mpm.env), `migrate` and `collectstatic`, gunicorn with gunicorn.conf.py, a send
worker, the callback receiver and applier, live mode with credentials pointing at a local stand-in for
Kaleyra, behind a (simulated) TLS proxy. Checked over HTTP and in Chromium: static files,
headers, the composer's live checks, a test send, a campaign sent by the worker and a delivery
callback reaching the live dashboard."""

import json
import re
import sqlite3
import subprocess
import sys
import time

import pytest
import requests
from playwright.sync_api import Browser, expect

from benchmarks.common import free_port
from benchmarks.standin import Script, StandinThread
from tests.deploy.production import ROOT, manage, production_env
from tests.support.callbacks import v2_status

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PASSWORD = "a-long-production-password-42"
PROXIED = {"X-Forwarded-Proto": "https"}  # what nginx adds (docs/deploy/mpm-nginx.conf)


class Stack:
    def __init__(self, url, callbacks_url, env, database, provider):
        self.url, self.env, self.database, self.provider = url, env, database, provider
        self.callbacks_url = callbacks_url  # where nginx sends POST /callbacks/kaleyra/

    def query(self, sql: str, *args):
        with sqlite3.connect(self.database) as db:
            return db.execute(sql, args).fetchall()


@pytest.fixture
def stack(tmp_path):
    script = Script()
    with StandinThread(script=script) as kaleyra:
        port, callbacks_port = free_port(), free_port()
        env = production_env(
            tmp_path,
            MPM_CALLBACK_BIND=f"127.0.0.1:{callbacks_port}",
            KALEYRA_BASE_URL=kaleyra.base_url,
            GUNICORN_BIND=f"127.0.0.1:{port}",
            # The browser reaches gunicorn over plain HTTP; the simulated proxy says HTTPS.
            DJANGO_CSRF_TRUSTED_ORIGINS=f"https://mpm.example.com,http://127.0.0.1:{port}",
            GUNICORN_WORKERS="2",
            KALEYRA_RATE_PER_SECOND="0",
            MPM_FREQUENCY_CAP_HOURS="0",
            DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        )
        for command in (
            ["migrate", "--noinput"],
            ["collectstatic", "--noinput"],
            ["demo"],
            ["createsuperuser", "--noinput", "--username", "meera", "--email", "m@example.com"],
        ):
            done = manage(*command, env=env, timeout=180)
            assert done.returncode == 0, (command, done.stderr)
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT, env=env
            ),
            subprocess.Popen(
                [sys.executable, "manage.py", "db_worker", "--no-reload"], cwd=ROOT, env=env
            ),
            subprocess.Popen([sys.executable, "manage.py", "apply_callbacks"], cwd=ROOT, env=env),
            subprocess.Popen([sys.executable, "manage.py", "receive_callbacks"], cwd=ROOT, env=env),
        ]
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                time.sleep(0.1)
            else:
                pytest.fail("gunicorn did not answer /healthz")
            callbacks_url = f"http://127.0.0.1:{callbacks_port}/callbacks/kaleyra/"
            for _ in range(200):
                try:
                    requests.post(callbacks_url, timeout=2)  # a 401: it answers
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            yield Stack(url, callbacks_url, env, tmp_path / "db.sqlite3", script)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=20)


def test_the_production_stack_serves_static_files_and_security_headers(stack):
    login = requests.get(f"{stack.url}/accounts/login/", headers=PROXIED, timeout=5)
    assert login.status_code == 200
    assert login.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "script-src 'self'" in login.headers["Content-Security-Policy"]
    assert login.headers["X-Frame-Options"] == "DENY"
    assert login.headers["X-Content-Type-Options"] == "nosniff"
    assert "secure" in login.headers["Set-Cookie"].lower()  # the CSRF cookie

    # Without the proxy's header the request was plain HTTP: sent to HTTPS.
    plain = requests.get(f"{stack.url}/accounts/login/", allow_redirects=False, timeout=5)
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")

    # The page links hashed, compressed static files that WhiteNoise serves for a year.
    css = re.search(r'href="(/static/campaigns/app\.[0-9a-f]{12}\.css)"', login.text).group(1)
    static = requests.get(
        f"{stack.url}{css}", headers={**PROXIED, "Accept-Encoding": "gzip"}, timeout=5
    )
    assert static.status_code == 200
    assert static.headers["Content-Encoding"] == "gzip"
    assert "immutable" in static.headers["Cache-Control"]

    health = requests.get(f"{stack.url}/healthz", timeout=5).json()
    assert health["ok"] and health["checks"]["provider"]["mode"] == "live"
    assert stack.env["KALEYRA_API_KEY"] not in json.dumps(health)


def test_the_composer_and_dashboard_work_in_the_browser(stack, browser: Browser):
    context = browser.new_context(
        extra_http_headers=PROXIED, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    page.on("pageerror", lambda error: violations.append(str(error)))

    page.goto(f"{stack.url}/campaigns/")
    page.get_by_label("Username").fill("meera")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Cart reminder (demo)").click()
    page.get_by_role("link", name="Edit").click()

    # The composer's modules ran: live checks, the preview, then a test send through Kaleyra.
    expect(page.locator("#composer[data-ready]")).to_be_attached()
    expect(page.locator("#check-summary")).to_contain_text("No problems: ready to send.")
    expect(page.locator("#preview")).to_contain_text("View items")
    page.get_by_label("Test phone number").fill("+919876543210")
    page.get_by_role("button", name="Send a test").click()
    expect(page.locator("#test-outcome")).to_contain_text("Kaleyra accepted it", timeout=15000)
    request, _ = stack.provider.requests[0]
    assert request.headers["api-key"] == stack.env["KALEYRA_API_KEY"]

    # A real send, done by the worker; then a delivery report reaches the live dashboard.
    page.get_by_role("button", name="Save and choose recipients…").click()
    page.get_by_label("Phone numbers").fill("+919811112345\n+919811116789")
    page.get_by_role("button", name="Check the recipients").click()
    page.get_by_role("button", name="Yes, send to 2 recipients now").click()
    expect(page.locator('[data-count="accepted"]')).to_have_text("2", timeout=30000)
    page.reload()
    page.wait_for_function("() => window.Chart && Chart.getChart('timeline-chart')")

    [(message_id,)] = stack.query(
        'SELECT message_id FROM campaigns_message WHERE "to" = ?', "+919811112345"
    )
    callback = v2_status("delivered", message_id=message_id, recipient_id="919811112345")
    answer = requests.post(
        stack.callbacks_url,  # the receiver, as nginx routes it
        json=callback,
        auth=("kaleyra", stack.env["KALEYRA_CALLBACK_PASSWORD"]),
        headers=PROXIED,
        timeout=5,
    )
    assert answer.status_code == 200
    delivered = page.locator('tr[data-step="delivered"] [data-field="count"]')
    expect(delivered).to_have_text("1", timeout=20000)
    width = page.locator('tr[data-step="delivered"] .funnel-bar').evaluate("el => el.style.width")
    assert width in ("50%", "50.0%")  # the browser may drop the ".0"
    assert violations == []
    context.close()

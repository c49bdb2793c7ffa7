"""`serve deploy --canary` and `drill upgrade` refuse bad options in one line, before touching any cluster."""

from __future__ import annotations

from tests.fakes.cli import run_cli


def test_a_canary_share_over_100_is_one_clear_error():
    run = run_cli("serve", "deploy", "--env", "dev", "--address", "http://127.0.0.1:9", "--canary", "150")
    assert run.code == 1
    assert run.err.strip() == ("error: --canary 150: the new version's share of traffic must be a percent from 1 to 100. "
                               "Fix: pass e.g. --canary 10")


def test_steps_without_a_canary_share_are_one_clear_error():
    run = run_cli("serve", "deploy", "--env", "dev", "--address", "http://127.0.0.1:9", "--steps", "10,100")
    assert (run.code, run.err.strip()) == (1, "error: --steps 10,100 needs --canary PERCENT. Fix: add --canary 10")


def test_watch_or_app_without_a_canary_share_is_one_clear_error():
    run = run_cli("serve", "deploy", "--env", "dev", "--address", "http://127.0.0.1:9", "--watch", "20")
    assert (run.code, run.err.strip()) == (1, "error: --watch 20 needs --canary PERCENT. Fix: add --canary 10")
    run = run_cli("serve", "deploy", "--env", "dev", "--address", "http://127.0.0.1:9", "--app", "digits")
    assert (run.code, run.err.strip()) == (1, "error: --app digits needs --canary PERCENT. Fix: add --canary 10")


def test_the_upgrade_drill_refuses_steps_that_do_not_end_at_100():
    run = run_cli("drill", "upgrade", "--local", "--steps", "10,50")
    assert run.code == 1
    assert run.err.strip().startswith("error: --steps 10,50: the last step must be 100")

# The test command from README.md is `make test`; .ci/run calls it.
PYTHON ?= python3

.PHONY: test install lint typecheck unit bench mosquitto chromium

test: install lint typecheck unit

install: mosquitto chromium
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Tests start their own Mosquitto on free ports (a broker already running is left alone);
# install the Debian package when it is missing.
mosquitto:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; \
	    else echo "mosquitto is missing: sudo apt-get install mosquitto" >&2; exit 1; fi; }

# The dashboard's browser tests drive Debian's headless Chromium through Playwright
# (Playwright's own browser download cannot work without the internet).
chromium:
	@command -v chromium >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	    else echo "chromium is missing: sudo apt-get install chromium" >&2; exit 1; fi; }

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	lint-imports

typecheck:
	$(PYTHON) -m mypy

unit:
	$(PYTHON) -m pytest -q

bench:
	$(PYTHON) -m bench

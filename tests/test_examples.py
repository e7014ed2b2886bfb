"""examples/ off the Pi: gpiozero's mock pins, a real hub, the real client."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gpiozero import Button, Device
from gpiozero.pins.mock import MockFactory

from picloud.client import Client
from tests.support.hub import KEY
from tests.support.process import wait_subscribed

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def examples(monkeypatch):
    """Import an example by name (they import their shared ``_common`` module)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return importlib.import_module


@pytest.fixture
def pins():
    factory = MockFactory()
    previous, Device.pin_factory = Device.pin_factory, factory
    yield factory
    factory.reset()
    Device.pin_factory = previous


def wait_for(condition, deadline: float = 10) -> None:
    """For a GPIO pin's state there is nothing to await: poll it."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_temperature_process_publishes_simulated_readings(hub_process, tmp_path):
    hub = hub_process("--api-key", KEY)
    env = {**os.environ, "PICLOUD_URL": hub.url, "PICLOUD_API_KEY": KEY,
           "PICLOUD_CLIENT_NAME": "garden", "GPIOZERO_PIN_FACTORY": "mock"}
    with Client(hub.url, KEY, "watcher") as watcher:
        watcher.subscribe("garden/temperature")
        wait_subscribed(watcher, "garden/temperature", "watcher")
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / "temperature.py"), "--event", "garden/temperature",
             "--sensor", "simulated", "--interval", "0.05", "--count", "3"],
            capture_output=True, text=True, env=env, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        readings = [watcher.receive(timeout=10).data for _ in range(3)]
    assert all(isinstance(r, float) and 15 < r < 30 for r in readings)


def test_temperature_says_when_it_simulates(examples, monkeypatch, caplog):
    temperature = examples("temperature")
    monkeypatch.setattr(temperature, "W1_SLAVES", "/nonexistent/28-*/w1_slave")
    name, read = temperature.find_sensor("auto")
    if name == "cpu":  # a machine with a thermal zone: the Pi's own path
        assert isinstance(read(), float)
        return
    assert name == "simulated"
    assert "simulated readings" in caplog.text
    assert isinstance(read(), float)


def test_temperature_reads_a_ds18b20(examples, monkeypatch, tmp_path):
    temperature = examples("temperature")
    device = tmp_path / "28-0316a2795bff"
    device.mkdir()
    (device / "w1_slave").write_text(
        "6a 01 4b 46 7f ff 0c 10 5b : crc=5b YES\n6a 01 4b 46 7f ff 0c 10 5b t=22625\n"
    )
    monkeypatch.setattr(temperature, "W1_SLAVES", str(tmp_path / "28-*" / "w1_slave"))
    name, read = temperature.find_sensor("auto")
    assert (name, read()) == ("ds18b20", 22.625)


def test_button_publishes_presses(examples, pins, hub_process):
    button_example = examples("button")
    hub = hub_process("--api-key", KEY)
    with Client(hub.url, KEY, "door") as device, Client(hub.url, KEY, "phone") as phone:
        phone.subscribe("door/bell")
        wait_subscribed(phone, "door/bell", "phone")
        button = Button(17)
        button_example.wire(device, button, "door/bell")
        pins.pin(17).drive_low()  # pressed (the button pulls the pin to ground)
        pins.pin(17).drive_high()
        assert phone.receive(timeout=10).data == "pressed"
        button.close()


def test_led_follows_an_event(examples, pins, hub_process):
    led_example = examples("led")
    from gpiozero import LED

    hub = hub_process("--api-key", KEY)
    led = LED(18)
    device = Client(hub.url, KEY, "porch")
    led_example.follow(device, led, "porch/light")
    runner = threading.Thread(target=device.run_forever)
    runner.start()
    try:
        with Client(hub.url, KEY, "switch") as switch:
            wait_subscribed(switch, "porch/light", "porch")
            switch.publish("porch/light", "on")
            wait_for(lambda: pins.pin(18).state)
            switch.publish("porch/light", "nonsense")  # ignored, stays on
            switch.publish("porch/light", False)
            wait_for(lambda: not pins.pin(18).state)
            switch.publish("porch/light", 1)
            wait_for(lambda: pins.pin(18).state)
    finally:
        device.close()
        runner.join(timeout=10)
        led.close()
    assert not runner.is_alive()


@pytest.mark.parametrize("data, state", [("ON", True), (" off ", False), (0, False), (2.5, True),
                                         (True, True), ("blink", None), (None, None), ({}, None)])
def test_led_wanted_state(examples, data, state):
    assert examples("led").wanted_state(data) is state


def test_led_service_survives_a_hub_restart_and_stops_on_sigterm(hub_process):
    """led.py as systemd runs it: a process that outlives the hub's restart."""
    import signal

    hub = hub_process("--api-key", KEY)
    port = hub.port
    env = {**os.environ, "PICLOUD_URL": hub.url, "PICLOUD_API_KEY": KEY,
           "PICLOUD_CLIENT_NAME": "porch", "GPIOZERO_PIN_FACTORY": "mock", "PYTHONUNBUFFERED": "1"}
    service = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "led.py"), "--event", "porch/light"],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    log = iter(service.stderr)

    def switch(value: str, expected: str) -> None:
        with Client(hub.url, KEY, "switch") as switch:
            wait_subscribed(switch, "porch/light", "porch")
            switch.publish("porch/light", value)
        for line in log:  # blocks until the service logs the switch
            if line.strip() == f"INFO {expected}":
                return
        raise AssertionError(f"service ended before logging {expected!r}")

    try:
        switch("on", "led on")
        assert hub.stop() == 0
        hub = hub_process("--api-key", KEY, "--port", str(port))
        switch("off", "led off")
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=10) == 0
    finally:
        service.kill()
        service.wait()


@pytest.mark.parametrize("script", ["led.py", "button.py"])
def test_off_a_pi_the_examples_say_one_clear_line(script, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
    done = subprocess.run([sys.executable, str(EXAMPLES / script), "--url", "http://127.0.0.1:1",
                           "--api-key", KEY], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "no GPIO on this machine (Unable to load any default pin factory!); on a Raspberry Pi install "
        "gpiozero with lgpio, elsewhere try it with GPIOZERO_PIN_FACTORY=mock"
    ]

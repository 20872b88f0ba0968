"""Engine tests run on the ``--device`` and in the ``--dtype`` given to pytest (cpu/float32 when none is):
every tensor a test creates without naming a device lands there, so the whole engine layer runs on a
GPU with ``--device cuda``, not only the tests that ask for the fixtures."""

import pytest
import torch


@pytest.fixture(autouse=True)
def engine_device_and_dtype(device, dtype):
    """Default device and dtype of tensor factories for the test (restored after it)."""
    previous = torch.get_default_dtype()
    if dtype != previous and dtype.is_floating_point and dtype in (torch.float32, torch.float64):
        torch.set_default_dtype(dtype)  # half dtypes are not valid defaults: those tests take ``dtype``
    try:
        if device.type == "cpu":
            yield
        else:
            with torch.device(device):
                yield
    finally:
        torch.set_default_dtype(previous)

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # The test machine is shared; one torch thread per process avoids oversubscription, which
    # otherwise slows these small matrix products by an order of magnitude.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

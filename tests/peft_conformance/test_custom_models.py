"""PEFT's own custom-model tuner tests (tests/test_custom_models.py of the installed peft's sdist), run on PANACEA.

The Panacea cases replace PEFT's TEST_CASES in place before collection; only the tests parametrised by that list
run here (the rest of the upstream class tests named built-in tuners), and those that test a LoRA-only feature are
skipped as not applicable with the reason from ``cases.NOT_APPLICABLE``.
"""

from .cases import CUSTOM_MODEL_CASES
from .upstream import adapt_for_panacea, import_upstream

upstream = import_upstream("test_custom_models")
upstream.TEST_CASES[:] = CUSTOM_MODEL_CASES
adapt_for_panacea(upstream)


class TestPanaceaCustomModel(upstream.TestPeftCustomModel):
    """Every TEST_CASES-parametrised test of PEFT's ``TestPeftCustomModel``, on the Panacea cases."""

"""Bad input to the LLM probes. Same shape as :class:`iclgd.theory.SettingError` (which `empirics`
may not import); :mod:`iclgd.properties.llm` re-raises it as one, so the CLI names the flag."""


class ProbeInputError(ValueError):
    """Invalid probe input; ``param`` names the parameter (``model``, ``dataset``, ``shots``, …)."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message

"""One error type for bad input, naming the offending parameter."""


class SettingError(ValueError):
    """Invalid input; ``param`` names the parameter (``d``, ``n``, ``sigma2``, ``cov``, …)."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message

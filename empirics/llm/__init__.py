"""Probes of ICL vs gradient descent on real pretrained language models (Shen, Mishra, Khashabi 2024)."""

"""Cities ``make demo`` starts with (deploy/seed.py; without this module it makes up examples)."""

ROWS = [{"name": "Shanghai", "province": "Shanghai"}, {"name": "Hangzhou", "province": "Zhejiang"},
        {"name": "Chengdu", "province": "Sichuan"}]

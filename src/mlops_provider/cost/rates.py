"""The rate table shipped with the package: on-demand hourly prices of common instance types, and storage.

Source: AWS public price list, Amazon EC2 On-Demand, Linux, US East (N. Virginia), and Amazon S3 Standard,
first 50 TB per month, US East (N. Virginia), as published on 2026-11-01. Prices differ by region and change;
a config overrides them (``cost.hourly_rate_usd``, ``cost.storage_usd_per_gb_month``). Spot prices are not
tabled: they change by the hour and the zone. docs/cost.md shows this table.
"""

from __future__ import annotations

#: Where the table comes from, for docs and reports.
SOURCE = "AWS public price list, EC2 On-Demand Linux and S3 Standard, us-east-1, 2026-11-01"

#: USD per instance hour, on demand.
INSTANCE_HOURLY_USD: dict[str, float] = {
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "t3.xlarge": 0.1664,
    "m5.large": 0.096,
    "m5.xlarge": 0.192,
    "m5.2xlarge": 0.384,
    "m5.4xlarge": 0.768,
    "c5.large": 0.085,
    "c5.xlarge": 0.17,
    "c5.2xlarge": 0.34,
    "r5.large": 0.126,
    "r5.xlarge": 0.252,
    "r5.2xlarge": 0.504,
    "g4dn.xlarge": 0.526,
    "p3.2xlarge": 3.06,
}

#: USD per GB-month, S3 Standard.
STORAGE_USD_PER_GB_MONTH = 0.023

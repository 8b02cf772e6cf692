"""Small datasets the tests share."""

# Two hosts, three minutes, metrics cpu and mem: the `hosts` dataset of the fixtures.
WIDE_CSV = """timestamp,cpu,mem,host,region
2024-05-01T00:00:00Z,10,50,web-1,eu
2024-05-01T00:00:00Z,20,60,web-2,us
2024-05-01T00:01:00Z,11,51,web-1,eu
2024-05-01T00:01:00Z,21,61,web-2,us
2024-05-01T00:02:00Z,12,52,web-1,eu
2024-05-01T00:02:00Z,22,62,web-2,us
"""

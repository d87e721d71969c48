"""The one C extension (everything else is declared in pyproject.toml).

``s3api._md5_lanes`` hashes the MD5 of concurrent uploads in vector lanes
(s3api/md5_lanes.py). It is optional: without a C compiler the install goes
on and the server computes MD5 with hashlib.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("s3api._md5_lanes", ["s3api/_md5_lanes.c"], optional=True)])

"""paramiko, the SFTP connector's SSH library: installed with the ``sftp`` extra.

Without it every other connector still loads; making an SFTP connection raises
``MissingExtraError`` ("SFTP connections need the sftp extra: pip install 'stagehouse[sftp]'").
"""

from stagehouse.connectors.extras import optional_import

paramiko = optional_import("paramiko", feature="SFTP connections", extra="sftp")

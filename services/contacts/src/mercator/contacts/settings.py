from pydantic_settings import SettingsConfigDict

from mercator.common.settings import ServiceSettings


class ContactsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MERCATOR_CONTACTS_", extra="ignore")

    service_name: str = "contacts"
    database_url: str = "sqlite+aiosqlite:///var/contacts.db"
    http_port: int = 8001
    # Open deals in an import go to the deals service's API (an Idempotency-Key per job and row).
    deals_url: str = "http://127.0.0.1:8002"
    # What reading one import's file may cost (imports.reading): it is read in a child process of its own, at most
    # `import_readers` at once. Over a limit the file is refused (422 naming the limit) and nothing is written.
    # The defaults take a client list of 100,000 rows (of seven columns: 16 MB as CSV; as XLSX, 6 MB that
    # unpack to 50 MB and are read in 8 s of CPU).
    import_max_file_bytes: int = 64 * 2**20
    import_max_rows: int = 100_000
    import_max_unpacked_bytes: int = 256 * 2**20  # what an XLSX's zip members add up to
    import_max_compression_ratio: float = 100.0  # of any member over 1 MB; a spreadsheet packs 5 to 20 times
    import_cpu_seconds: float = 60.0
    import_memory_bytes: int = 2**30
    import_readers: int = 2

"""A connection string whose option value libpq refuses is refused before connecting.

libpq reads an option's value only when it connects, and its refusal then is a connection
failure: ``sslmode=requir`` made a PostgresLedger report "the server cannot be reached", and a
service started, answering 503 for ever, instead of refusing to start. The oracle for which
values libpq refuses is libpq itself: ``psycopg.connect`` against the test cluster.
"""

from __future__ import annotations

import pytest

from geotarget.errors import InvalidInput
from geotarget.ledger import PostgresLedger

BAD = [
    ("sslmode", "requir"),
    ("gssencmode", "maybe"),
    ("channel_binding", "yes"),
    ("target_session_attrs", "rw"),
    ("connect_timeout", "5s"),
    ("hostaddr", "db.example.com"),
]


@pytest.mark.parametrize(("option", "value"), BAD)
def test_a_value_libpq_refuses_when_it_connects_is_refused_naming_the_option(
    postgres_dsn: str, option: str, value: str
) -> None:
    import psycopg

    dsn = f"{postgres_dsn} {option}={value}"
    with pytest.raises((psycopg.OperationalError, psycopg.ProgrammingError)):  # the oracle
        psycopg.connect(dsn).close()
    with pytest.raises(InvalidInput, match=rf"^dsn: {option} must be") as caught:
        PostgresLedger(dsn)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("sslmode", "prefer"),
        ("sslmode", "disable"),
        ("gssencmode", "disable"),
        ("target_session_attrs", "read-write"),
        ("target_session_attrs", "any"),
        ("connect_timeout", "7"),
        ("keepalives", "1"),
        ("keepalives_idle", "30"),
    ],
)
def test_values_libpq_takes_still_open_the_store(
    postgres_dsn: str, option: str, value: str
) -> None:
    """The same cluster, options spelled as libpq documents them: the store opens and reads."""
    import psycopg

    dsn = f"{postgres_dsn} {option}={value}"
    psycopg.connect(dsn).close()  # the oracle: libpq takes it
    store = PostgresLedger(dsn)
    try:
        assert store.load_active() == []
    finally:
        store.close()


def test_the_refusal_names_no_other_part_of_the_dsn() -> None:
    """A password beside the bad option is never quoted (no server needed)."""
    with pytest.raises(InvalidInput) as caught:
        PostgresLedger("host=db.example password=s3cret-Pw sslmode=requir")
    assert "s3cret" not in str(caught.value) and "'requir'" in str(caught.value)

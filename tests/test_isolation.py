"""No search path ever returns another user's unit (property test)."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmem import Memory, SentenceTransformerEmbedder

words = st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=8)
sentences = st.lists(words, min_size=1, max_size=6).map(" ".join)
users = st.sampled_from(["alice", "bob", "carol", "dave", "Alice", "bob ", "a.b", "a_b"])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    writes=st.lists(st.tuples(users, sentences), min_size=1, max_size=12),
    queries=st.lists(st.tuples(users, sentences), min_size=1, max_size=4),
)
def test_search_never_crosses_users(embedder: SentenceTransformerEmbedder,
                                    writes: list[tuple[str, str]],
                                    queries: list[tuple[str, str]]) -> None:
    with Memory(embedder=embedder) as mem:
        owner: dict[str, str] = {}
        for i, (user, text) in enumerate(writes):
            res = mem.add([{"role": "user", "content": text}], user_id=user, session_id=f"s{i}")
            owner.update(dict.fromkeys(res.unit_ids, user))
        for user, text in queries + [(u, t) for u, t in writes]:
            for mode in ("hybrid", "dense", "lexical"):
                for hit in mem.search(text, user_id=user, k=20, mode=mode):
                    assert hit.user_id == user
                    assert owner[hit.id] == user
        # every user still finds each of their own texts
        for user, text in writes:
            found = mem.search(text, user_id=user, k=20)
            assert any(text in h.text for h in found)

"""Approver policy rules of DESIGN.md section 2."""

from graph.fix import policy


def make() -> policy.Policy:
    return policy.Policy(
        approvers={"low": ["alice", "bob"], "medium": ["alice", "bob"],
                   "high": ["alice", "bob", "group:sre"], "critical": ["alice", "bob", "carol"],
                   "high:payments": ["dora"]},
        groups={"sre": ["erin"]})


def test_unlisted_user_may_not_approve() -> None:
    verdict = make().check_approval(user="mallory", user_groups=[], risk="medium",
                                    namespace="shop", requester="bob", already=[])
    assert not verdict.allowed
    assert "may not approve medium-risk" in verdict.reason


def test_group_members_from_settings_and_from_the_platform() -> None:
    rules = make()
    assert rules.may_approve("erin", "high", "shop")
    assert rules.may_approve("frank", "high", "shop", user_groups=["sre"])
    assert not rules.may_approve("frank", "high", "shop")


def test_namespace_specific_approvers_replace_the_general_list() -> None:
    rules = make()
    assert rules.may_approve("dora", "high", "payments")
    assert not rules.may_approve("alice", "high", "payments")
    assert not rules.may_approve("dora", "high", "shop")


def test_requester_cannot_be_the_only_approver_of_high_risk() -> None:
    rules = make()
    verdict = rules.check_approval(user="alice", user_groups=[], risk="high", namespace="shop",
                                   requester="alice", already=[])
    assert not verdict.allowed
    assert "cannot be its only approver" in verdict.reason
    assert rules.check_approval(user="bob", user_groups=[], risk="high", namespace="shop",
                                requester="alice", already=[]).allowed
    assert not rules.complete("high", "alice", ["alice"])
    assert rules.complete("high", "alice", ["bob"])


def test_requester_may_approve_their_own_medium_risk_action() -> None:
    rules = make()
    assert rules.check_approval(user="alice", user_groups=[], risk="medium", namespace="shop",
                                requester="alice", already=[]).allowed
    assert rules.complete("medium", "alice", ["alice"])


def test_critical_needs_two_distinct_approvers() -> None:
    rules = make()
    assert not rules.complete("critical", "dave", ["alice"])
    again = rules.check_approval(user="alice", user_groups=[], risk="critical",
                                 namespace="shop", requester="dave", already=["alice"])
    assert not again.allowed and "already approved" in again.reason
    assert rules.complete("critical", "dave", ["alice", "carol"])


def test_critical_requester_plus_one_other_is_enough_but_not_alone() -> None:
    rules = make()
    first = rules.check_approval(user="alice", user_groups=[], risk="critical",
                                 namespace="shop", requester="alice", already=[])
    assert first.allowed  # a second, different approver is still required
    assert not rules.complete("critical", "alice", ["alice"])
    assert rules.complete("critical", "alice", ["alice", "bob"])


def test_defaults_keep_kube_system_out_and_require_approval() -> None:
    rules = policy.Policy()
    assert not rules.namespace_allowed("kube-system")
    assert rules.namespace_allowed("shop")
    assert rules.needs_approval("low")
    assert not rules.configured_for("low", "shop")
    assert not policy.Policy(auto_approve_low=True).needs_approval("low")
    assert policy.Policy(auto_approve_low=True).needs_approval("medium")
    assert not policy.Policy(namespaces=["shop"]).namespace_allowed("billing")

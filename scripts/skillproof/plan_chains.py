"""Stage 3: group each document's blocks into chains.

A block that runs (or is written with file=) starts a new chain unless it says `continue` (the chain of
the previous runnable block) or `continue=NAME` (the chain started by the block with `id=NAME`). A
`text output` block attaches to the runnable block right before it. Nothing runs twice: each block
belongs to exactly one chain, in document order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .find_documents import UsageError
from .models import Block, Chain, Finding, ParsedDocument, Step, display_path
from .parse_blocks import RUNNABLE_LANGUAGES
from .rules import finding


@dataclass
class Plan:
    chains: list[Chain] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    norun: list[Block] = field(default_factory=list)  # listed in the report, on purpose


def plan_document(doc: ParsedDocument, selected_lines: set[int] | None = None) -> Plan:
    plan = Plan()
    steps: list[list[Step]] = []
    names: dict[str, int] = {}
    chain_names: list[str | None] = []
    current: int | None = None  # the chain of the previous runnable block
    previous: Block | None = None  # the previous fence, whatever it was

    for block in doc.blocks:
        if block.is_output:
            if (
                previous is not None
                and previous.executes
                and current is not None
                and steps[current][-1].block is previous
            ):
                steps[current][-1] = Step(previous, block)
            else:
                plan.findings.append(
                    finding("BLK004", block.location, "'text output' must come right after a block that runs")
                )
            previous = block
            continue
        previous = block

        if block.is_norun:
            plan.norun.append(block)
            if block.flags["norun"] is True:
                plan.findings.append(
                    finding(
                        "BLK008",
                        block.location,
                        'norun block without a reason: write norun="why it cannot run here"',
                    )
                )
            continue
        if not block.in_chain:
            if block.language in RUNNABLE_LANGUAGES[1:]:
                plan.findings.append(
                    finding(
                        "BLK009",
                        block.location,
                        f"{block.language} block neither runs nor says why: "
                        'add run, file=PATH or norun="reason"',
                    )
                )
            continue

        target = block.flags.get("continue")
        if target is True:
            if current is None:
                plan.findings.append(
                    finding("BLK003", block.location, "'continue' with no runnable block before it")
                )
                continue
        elif isinstance(target, str):
            if target not in names:
                plan.findings.append(
                    finding(
                        "BLK003", block.location, f"'continue={target}': no earlier block has id={target}"
                    )
                )
                continue
            current = names[target]
        else:
            current = len(steps)
            steps.append([])
            name = block.flags.get("id")
            chain_names.append(name if isinstance(name, str) else None)
            if isinstance(name, str):
                if name in names:
                    plan.findings.append(
                        finding("BLK003", block.location, f"id={name} is used twice in this file")
                    )
                else:
                    names[name] = current
        steps[current].append(Step(block))

    chains = [Chain(doc.path, n + 1, chain_names[n], tuple(s)) for n, s in enumerate(steps)]
    plan.chains = _select(doc.path, chains, selected_lines) if selected_lines else chains
    return plan


def _select(path: Path, chains: list[Chain], lines: set[int]) -> list[Chain]:
    """Keep, for each selected line, its chain up to and including the block at that line."""
    cut: dict[int, int] = {}  # chain index -> number of steps to keep
    for line in sorted(lines):
        for c, chain in enumerate(chains):
            hit = next(
                (
                    i
                    for i, step in enumerate(chain.steps)
                    if step.block.fence_line <= line <= (step.output or step.block).end_line
                ),
                None,
            )
            if hit is not None:
                cut[c] = max(cut.get(c, 0), hit + 1)
                break
        else:
            raise UsageError(f"{display_path(path)}:{line}: no runnable block at this line")
    return [Chain(ch.path, ch.number, ch.name, ch.steps[: cut[c]]) for c, ch in enumerate(chains) if c in cut]

"""``python -m bot kb check|export`` — validate the knowledge base; write the training inputs generated from it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _default_dir() -> Path:
    from bot.settings import get_settings

    return get_settings().knowledge_dir


def _check(args: argparse.Namespace) -> int:
    from bot.knowledge.check import check_knowledge
    from bot.knowledge.loader import load_knowledge

    directory = Path(args.dir or _default_dir())
    if not directory.is_dir():
        print(f"错误：找不到知识库目录 {directory}", file=sys.stderr)
        return 2
    problems = check_knowledge(directory)
    if args.production:
        from bot.knowledge.operational import production_problems

        problems += production_problems(directory)
    for problem in problems:
        print(problem)
    if problems:
        print(f"知识库检查未通过：{len(problems)} 个问题", file=sys.stderr)
        return 1
    kb = load_knowledge(directory)
    groups = sum(1 for p in kb.programs.values() if p.is_group)
    verified = sum(1 for p in kb.programs.values() if p.review.verified)
    print(f"知识库检查通过：{len(kb.programs) - groups} 个项目、{groups} 个组合条目"
          f"（已核实 {verified}，待核实 {len(kb.programs) - verified}），"
          f"养老服务清单 {kb.service_list.item_count} 项中已收录 {len(kb.service_list.items)} 项，"
          f"{len(kb.localities)} 个地方")
    for line in same_name_notes(kb):
        print(line)
    return 0


def same_name_notes(kb) -> list:
    """Entries that share a name without being a problem: a service-list item named like the programme it points
    to (高龄津贴). Said so, so that an editor looking for one does not edit the other (the editor marks them 同名)."""
    from bot.knowledge.text import normalize_key

    notes = []
    for item in kb.service_list.items.values():
        program = kb.programs.get(item.program) if item.program else None
        if program is not None and normalize_key(item.name) == normalize_key(program.name):
            notes.append(f"提示（不是问题）：“{item.name}”有两个同名条目——项目 {program.id}，和养老服务清单里指向它的"
                         f" {item.id}；居民问这个名称时回答项目，编辑时请看清编号。")
    return notes


def _export(args: argparse.Namespace) -> int:
    from bot.knowledge.export import export_training_data
    from bot.knowledge.loader import KnowledgeError, load_knowledge
    from bot.settings import ROOT

    directory = Path(args.dir or _default_dir())
    try:
        kb = load_knowledge(directory)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("知识库有问题，未导出；请先运行 python -m bot kb check", file=sys.stderr)
        return 1
    paths = export_training_data(kb, Path(args.build or ROOT / "build"))
    for kind, path in sorted(paths.items()):
        print(f"{kind}: {path}")
    return 0


def register(sub) -> None:
    kb = sub.add_parser("kb", help="knowledge base: check, export",
                        description="The knowledge base in knowledge/ (programmes, service list, localities).")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="SUBCOMMAND")
    kb_sub.required = True
    check = kb_sub.add_parser("check", help="validate every knowledge file; print file:line: problem",
                              description="Validate the knowledge base against its schema and the checks other "
                                          "capabilities register. Prints each problem as file:line: message and "
                                          "exits 1 if there is any.")
    check.add_argument("--dir", help="knowledge directory (default: HUIMIN_KNOWLEDGE_DIR or ./knowledge)")
    check.add_argument("--production", action="store_true",
                       help="also report every entry still marked demo: true (sites, offices): it must be "
                            "replaced with the bureau's real data before going live")
    check.set_defaults(handler=_check)
    export = kb_sub.add_parser("export", help="write build/ training inputs (NLU examples, jieba dictionary, "
                                              "entity phrases)",
                               description="Write the NLU examples, the jieba user dictionary and the entity "
                                           "phrases generated from the knowledge base.")
    export.add_argument("--dir", help="knowledge directory (default: HUIMIN_KNOWLEDGE_DIR or ./knowledge)")
    export.add_argument("--build", help="output directory (default: ./build)")
    export.set_defaults(handler=_export)

# Copyright: Pourtrait engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JSON summary and the JUnit XML of a run, for CI."""

import json
import os
import tempfile
import xml.etree.ElementTree as ET

SUMMARY_VERSION = 1


def summary(outcome, recorder):
    """The JSON-able summary of a run: the outcome (see cli.Outcome) plus what every task did."""
    tasks = [r.as_dict() for r in recorder.results]
    failures = [{'host': t['host'], 'task': t['name'], 'msg': t['msg']}
                for t in tasks if t['status'] in ('failed', 'unreachable')]
    return {
        'version': SUMMARY_VERSION,
        'command': 'pourtrait-ops run',
        'playbook': outcome.playbook,
        'playbook_path': outcome.playbook_path,
        'inventory': outcome.inventory,
        'limit': outcome.limit,
        'check': outcome.check,
        'diff': outcome.diff,
        'extra_vars': outcome.extra_var_names,
        'status': outcome.status,
        'exit_code': outcome.exit_code,
        'ansible_rc': outcome.ansible_rc,
        'runner_status': outcome.runner_status,
        'message': outcome.message,
        'started_at': outcome.started_at,
        'finished_at': outcome.finished_at,
        'duration_s': round(outcome.duration, 3),
        'hosts': recorder.stats,
        'counts': counts(recorder),
        'failures': failures,
        'tasks': tasks,
        'artifacts_dir': outcome.artifacts_dir,
    }


def counts(recorder):
    """How many task results ended in each status."""
    totals = {}
    for result in recorder.results:
        totals[result.status] = totals.get(result.status, 0) + 1
    return totals


def junit(outcome, recorder):
    """An ElementTree of the run: one testcase per task and host; failed tasks carry a <failure> with
    the one-line message, unreachable hosts and a run that ended before any task an <error>."""
    suite_name = outcome.playbook or 'pourtrait-ops'
    suites = ET.Element('testsuites', name='pourtrait-ops run %s' % suite_name)
    suite = ET.SubElement(suites, 'testsuite', name=suite_name, timestamp=outcome.started_at or '')
    props = ET.SubElement(suite, 'properties')
    for name, value in (('playbook', outcome.playbook_path), ('inventory', outcome.inventory),
                        ('limit', outcome.limit), ('check', outcome.check), ('diff', outcome.diff),
                        ('status', outcome.status), ('exit_code', outcome.exit_code)):
        if value is not None:
            ET.SubElement(props, 'property', name=name, value=str(value).lower() if isinstance(value, bool)
                          else str(value))
    tests = failures = errors = skipped = 0
    for result in recorder.results:
        tests += 1
        case = ET.SubElement(suite, 'testcase', classname='%s.%s' % (suite_name, result.host or 'controller'),
                             name=result.label, time='%.3f' % (result.duration or 0.0))
        if result.status == 'failed':
            failures += 1
            node = ET.SubElement(case, 'failure', message=result.msg or 'failed', type='failed')
            node.text = '%s failed on %s: %s' % (result.label, result.host, result.msg or 'failed')
        elif result.status == 'unreachable':
            errors += 1
            node = ET.SubElement(case, 'error', message=result.msg or 'unreachable', type='unreachable')
            node.text = '%s is unreachable: %s' % (result.host, result.msg)
        elif result.status == 'running':
            errors += 1
            ET.SubElement(case, 'error', message='the run ended before this task finished', type='interrupted')
        elif result.status == 'skipped':
            skipped += 1
            ET.SubElement(case, 'skipped', message=result.msg or 'skipped')
        elif result.status in ('ignored', 'rescued'):
            out = ET.SubElement(case, 'system-out')
            out.text = '%s (%s): %s' % (result.status, 'ignore_errors' if result.status == 'ignored'
                                        else 'a rescue block handled it', result.msg)
        elif result.lines:
            out = ET.SubElement(case, 'system-out')
            out.text = '\n'.join(result.lines)
    if outcome.exit_code not in (0, 2) and not failures and not errors:
        # bad configuration, a syntax error, an interrupted run: make CI show why
        tests += 1
        errors += 1
        case = ET.SubElement(suite, 'testcase', classname='%s.controller' % suite_name, name='pourtrait-ops run',
                             time='%.3f' % outcome.duration)
        ET.SubElement(case, 'error', message=outcome.message, type=outcome.status)
    for node in (suite, suites):
        node.set('tests', str(tests))
        node.set('failures', str(failures))
        node.set('errors', str(errors))
        node.set('skipped', str(skipped))
        node.set('time', '%.3f' % outcome.duration)
    return ET.ElementTree(suites)


def write_atomic(path, data):
    """Write bytes to path through a temp file in the same directory (created when missing)."""
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_summary(path, data):
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + '\n').encode('utf-8'))


def write_junit(path, tree):
    ET.indent(tree)
    write_atomic(path, ET.tostring(tree.getroot(), encoding='utf-8', xml_declaration=True) + b'\n')

// The rule form: the condition is checked as it is typed, and a problem is shown under the
// character it is about, as the server would on saving.
import { postJson } from '/static/frontend/api.js';

const field = document.getElementById('condition');
const errorBox = document.getElementById('condition-error');
const checked = document.getElementById('condition-check');
let timer = null;
let asked = 0;

function showProblem(problem) {
  errorBox.replaceChildren();
  const text = document.createElement('p');
  text.className = 'error';
  text.textContent = `${problem.message} (character ${problem.position + 1})`;
  const pointer = document.createElement('pre');
  pointer.className = 'pointer';
  pointer.textContent = problem.pointer;
  errorBox.append(text, pointer);
  field.setAttribute('aria-invalid', 'true');
}

async function check() {
  const condition = field.value;
  const mine = ++asked;
  if (!condition.trim()) {
    errorBox.replaceChildren();
    checked.textContent = '';
    field.removeAttribute('aria-invalid');
    return;
  }
  try {
    const answer = await postJson('/api/rules/check', { condition });
    if (mine !== asked) return;
    errorBox.replaceChildren();
    field.removeAttribute('aria-invalid');
    const lists = answer.lists.length ? `; lists ${answer.lists.join(', ')}` : '';
    checked.textContent = `Condition checks out: reads ${answer.reads.join(', ') || 'no field'}${lists}.`;
  } catch (error) {
    if (mine !== asked) return;
    checked.textContent = '';
    const problem = (error.errors || []).find((e) => e.field === 'condition');
    if (problem && problem.pointer !== undefined) showProblem(problem);
    else checked.textContent = `Could not check the condition: ${error.message}`;
  }
}

if (field) {
  field.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  });
  // A condition already there (typed before this script ran, or sent back by the server)
  // is checked at once; a refused one keeps the server's message until it is edited.
  if (field.value.trim() && !errorBox.children.length) check();
}

// The panel's theme, applied before the first paint (a classic script in <head>, not a module):
// what the person chose with the "Dark mode" button, remembered in this browser, or else what
// the system prefers. The button (main.js) sends a `hush:theme` event; this is the one script
// that touches web storage, and it keeps nothing there but the word "dark" or "light".
(() => {
  const KEY = 'hush-theme';
  const system = window.matchMedia('(prefers-color-scheme: dark)');
  const apply = () => {
    let chosen = null;
    try {
      chosen = localStorage.getItem(KEY);
    } catch {
      chosen = null; // storage turned off: follow the system
    }
    const theme = chosen === 'dark' || chosen === 'light' ? chosen : system.matches ? 'dark' : 'light';
    document.documentElement.dataset.theme = theme;
  };
  apply();
  system.addEventListener('change', apply);
  document.addEventListener('hush:theme', (event) => {
    const theme = event.detail === 'dark' ? 'dark' : 'light';
    document.documentElement.dataset.theme = theme;
    try {
      localStorage.setItem(KEY, theme);
    } catch {
      // Not remembered (storage turned off); this page keeps the choice.
    }
  });
})();

// The API docs page follows the browser's colour scheme, as every other page does: Swagger UI
// draws its own dark theme under <html class="dark-mode">, which only its standalone layout's
// toggle would set. A file, not inline: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const follow = () => document.documentElement.classList.toggle("dark-mode", dark.matches);
  follow();
  dark.addEventListener("change", follow);
})();

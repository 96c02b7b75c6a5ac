import presetLintRecommended from 'remark-preset-lint-recommended';
import validateLinks from 'remark-validate-links';

export default {
  plugins: [presetLintRecommended, [validateLinks, { repository: false }]],
};

// The recipe table: names and titles of the recipes, their parsing, N:M parsing, and the
// factory that builds a recipe from a run's configuration.
#include "nmcore/error.h"
#include "nmcore/sparsity.h"
#include "recipes/recipe.h"

namespace nm {

namespace {
struct RecipeName {
    RecipeKind kind;
    const char *name;
    const char *title;
};
constexpr RecipeName kRecipes[] = {
    {RecipeKind::Dense, "dense", "Dense"},
    {RecipeKind::Ste, "ste", "STE"},
    {RecipeKind::SrSte, "srste", "SR-STE"},
    {RecipeKind::SSte, "sste", "S-STE"},
    {RecipeKind::MdgfLinear, "mdgf-linear", "MDGF-Linear"},
    {RecipeKind::MdgfExp, "mdgf-exp", "MDGF-Exp"},
    {RecipeKind::SdgfStepwise, "sdgf-stepwise", "SDGF-Stepwise"},
    {RecipeKind::SdgfGeometric, "sdgf-geometric", "SDGF-Geometric"},
    {RecipeKind::TSrSteDf, "tsrste-df", "T-SR-STE+DF"},
    {RecipeKind::Asp, "asp", "ASP"},
};
} // namespace

const char *toString(RecipeKind kind)
{
    for (const auto &r : kRecipes)
        if (r.kind == kind)
            return r.name;
    return "unknown";
}

std::string recipeTitle(RecipeKind kind)
{
    for (const auto &r : kRecipes)
        if (r.kind == kind)
            return r.title;
    return "unknown";
}

const std::vector<std::string> &recipeNames()
{
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto &r : kRecipes)
            v.emplace_back(r.name);
        return v;
    }();
    return names;
}

RecipeKind parseRecipe(const std::string &name)
{
    for (const auto &r : kRecipes)
        if (name == r.name)
            return r.kind;
    std::string all;
    for (const auto &n : recipeNames())
        all += (all.empty() ? "" : ", ") + n;
    throw ConfigError("recipe: unknown value '" + name + "'; allowed: " + all);
}

void parseNm(const std::string &text, int &n, int &m, const std::string &key)
{
    const auto colon = text.find(':');
    bool ok = colon != std::string::npos && colon > 0 && colon + 1 < text.size();
    long a = 0, b = 0;
    if (ok) {
        try {
            size_t u1 = 0, u2 = 0;
            a = std::stol(text.substr(0, colon), &u1);
            b = std::stol(text.substr(colon + 1), &u2);
            ok = u1 == colon && u2 == text.size() - colon - 1;
        } catch (const std::logic_error &) {
            ok = false;
        }
    }
    if (!ok)
        throw ConfigError(key + ": expected N:M such as 2:4 or 1:16, got '" + text + "'");
    if (b < 2 || b > 128 || a < 1 || a >= b)
        throw ConfigError(key + ": " + text + " is out of range; need 1 <= N < M <= 128");
    n = static_cast<int>(a);
    m = static_cast<int>(b);
}

std::unique_ptr<Recipe> makeRecipe(const RunConfig &c)
{
    const RecipeKind k = parseRecipe(c.recipe);
    switch (k) {
    case RecipeKind::Dense:
        return makeDenseRecipe(c);
    case RecipeKind::Ste:
        return makeSteRecipe(c);
    case RecipeKind::SrSte:
        return makeSrSteRecipe(c);
    case RecipeKind::SSte:
        return makeSSteRecipe(c);
    case RecipeKind::MdgfLinear:
    case RecipeKind::MdgfExp:
        return makeMdgfRecipe(c, k, c.steps);
    case RecipeKind::SdgfStepwise:
    case RecipeKind::SdgfGeometric:
        return makeSdgfRecipe(c, k, c.steps);
    case RecipeKind::TSrSteDf:
        return makeTSrSteDfRecipe(c, c.steps);
    case RecipeKind::Asp:
        return makeAspRecipe(c, c.steps);
    }
    return makeDenseRecipe(c);
}

} // namespace nm
